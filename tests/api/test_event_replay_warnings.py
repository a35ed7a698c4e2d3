"""
An event credited through its code, sent again after the code stopped working (its program
paused, its source deactivated), is answered as it was recorded: credited to the code's
referral, with no warning that it was "recorded without" the code.
"""

import pytest

from referrals.services import event_record, program_update
from tests.api.test_events import purchase


def _pause(program, source):
    program_update(program=program, status="paused")


def _deactivate(program, source):
    source.active = False
    source.save(update_fields=["active"])


@pytest.mark.parametrize("stop", [_pause, _deactivate])
def test_a_replay_after_the_code_stopped_working_keeps_its_answer(api, program, source, link, stop):
    event = purchase(n="o-1", email="a@x.test", code=link.code)
    first = api.post("/api/v1/events", event).json()
    assert first["referral"] is not None and first["warnings"] == []

    stop(program, source)

    again = api.post("/api/v1/events", event).json()
    assert (again["duplicate"], again["referral"], again["warnings"]) == (
        True,
        first["referral"],
        [],
    )
    [item] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
    assert item["status"] == 200
    assert (item["result"]["referral"], item["result"]["warnings"]) == (first["referral"], [])
    warnings: list = []
    conversion, created = event_record(
        organization=program.organization,
        kind="purchase",
        external_id="o-1",
        amount="120.00",
        email="a@x.test",
        code=link.code,
        warnings=warnings,
    )
    assert (created, conversion.referral_id, warnings) == (False, first["referral"], [])


def test_a_new_event_with_the_dead_code_is_still_warned(api, program, source, link):
    api.post("/api/v1/events", purchase(n="o-1", email="a@x.test", code=link.code))
    program_update(program=program, status="paused")
    body = api.post("/api/v1/events", purchase(n="o-2", email="b@x.test", code=link.code)).json()
    assert [w["code"] for w in body["warnings"]] == ["code_not_live"]


def test_a_replay_of_an_event_credited_through_its_cookie_keeps_its_answer(
    api, program, source, link, client
):
    from referrals.services import cookie_name

    client.get(f"/r/{link.code}")
    cookie = client.cookies[cookie_name(program.pk)].value
    event = purchase(n="o-1", email="a@x.test", cookie=cookie)
    first = api.post("/api/v1/events", event).json()
    assert first["referral"] is not None and first["warnings"] == []

    program_update(program=program, status="paused")

    again = api.post("/api/v1/events", event).json()
    assert (again["referral"], again["warnings"]) == (first["referral"], [])
