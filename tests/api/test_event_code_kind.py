"""
A code whose program no longer accepts its source's kind (the program's allowed source
kinds were narrowed after the link was made) is a code that no longer works: the purchase
is kept, the code set aside with a warning, on every path, the same on a replay.
"""

from referrals.models import Conversion, Purchase, Referral
from referrals.services import program_update
from rewards.models import Reward
from tests.api.test_events import purchase


def test_a_code_of_a_source_kind_the_program_no_longer_takes_keeps_the_purchase(
    api, program, source, link, fixed_rule
):
    program_update(program=program, allowed_source_kinds=["employee"])
    event = purchase(n="o-1", email="a@x.test", code=link.code)

    first = api.post("/api/v1/events", event, headers={"Idempotency-Key": "k-1"})

    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["stored"], body["referral"]) == (True, None)
    assert [(w["param"], w["code"]) for w in body["warnings"]] == [("code", "code_not_live")]
    again = api.post("/api/v1/events", event).json()
    assert (again["duplicate"], again["warnings"]) == (True, body["warnings"])
    [item] = api.post(
        "/api/v1/events/bulk",
        {"events": [event, purchase(n="o-2", email="b@x.test", code=link.code)]},
    ).json()["results"][:1]
    assert item["status"] == 200 and item["result"]["warnings"] == body["warnings"]
    assert Purchase.objects.count() == 2
    assert not Referral.objects.exists() and not Conversion.objects.exists()
    assert not Reward.objects.exists()
