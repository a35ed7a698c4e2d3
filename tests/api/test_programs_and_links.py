"""/api/v1/programs (with their rules) and /api/v1/links (a source's link into a program)."""

import pytest

from accounts.models import ReferralSource
from referrals.models import ReferralLink
from referrals.services import program_create
from rewards.services import rule_create
from tests.api.conftest import error_of


def test_programs_come_with_their_active_rules(api, program, fixed_rule):
    response = api.get(f"/api/v1/programs/{program.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Refer a friend" and body["attribution_window_days"] == 30
    assert [(r["trigger"], r["amount"], r["currency"]) for r in body["rules"]] == [
        ("first_purchase", "25.00", "EUR")
    ]


def test_the_program_list_costs_a_bounded_number_of_queries(
    api, acme, django_assert_max_num_queries
):
    for n in range(15):
        program = program_create(organization=acme, name=f"P{n}")
        rule_create(program=program, trigger="signup", amount="5", reward_kind="credit")
    with django_assert_max_num_queries(5):
        body = api.get("/api/v1/programs", {"limit": 100}).json()
    assert len(body["results"]) == 15 and all(len(p["rules"]) == 1 for p in body["results"])


def test_it_creates_a_link_once_then_fetches_it(api, program, source, settings):
    body = {"source": source.pk, "program": program.pk}
    first = api.post("/api/v1/links", body)
    again = api.post("/api/v1/links", body)
    assert (first.status_code, again.status_code) == (201, 200)
    link = ReferralLink.objects.get()
    assert first.json() == again.json()
    assert first.json()["url"] == f"{settings.SITE_URL}/r/{link.code}"
    qr = first.json()["qr_svg_url"]
    assert qr.endswith(f"/me/{source.portal_token}/qr/{link.pk}.svg")
    assert api.client.get(qr.replace(settings.SITE_URL, "")).status_code == 200


def test_a_link_needs_a_source_the_program_accepts(api, program, acme):
    program.allowed_source_kinds = ["agent"]
    program.save()
    source = ReferralSource.objects.create(organization=acme, name="C", kind="customer")
    response = api.post("/api/v1/links", {"source": source.pk, "program": program.pk})
    assert response.status_code == 400 and error_of(response)["param"] == "source"
    response = api.post("/api/v1/links", {"source": source.pk, "program": 10**6})
    assert response.status_code == 404 and error_of(response)["param"] == "program"
    assert not ReferralLink.objects.exists()


def test_links_are_listed_by_source_and_program(api, link, acme, program):
    other = ReferralSource.objects.create(organization=acme, name="O", kind="agent")
    api.post("/api/v1/links", {"source": other.pk, "program": program.pk})
    results = api.get("/api/v1/links", {"source": link.source_id}).json()["results"]
    assert [r["id"] for r in results] == [link.pk]
    assert api.get(f"/api/v1/links/{link.pk}").json()["code"] == link.code


def test_the_link_list_costs_a_bounded_number_of_queries(
    api, acme, program, django_assert_max_num_queries
):
    from referrals.services import link_get_or_create

    for n in range(30):
        source = ReferralSource.objects.create(organization=acme, name=f"S{n}", kind="agent")
        link_get_or_create(program=program, source=source)
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/links", {"limit": 100}).json()["results"]) == 30


def test_a_link_says_whether_it_takes_visitors_now(api, program, source):
    """A paused program's link (or an inactive source's) answers 404 and its code is set
    aside in events: the API says so on the link instead of handing out a URL that looks
    live."""
    body = {"source": source.pk, "program": program.pk}
    created = api.post("/api/v1/links", body).json()
    assert created["live"] is True
    assert api.client.get(f"/r/{created['code']}").status_code in (200, 302)

    program.status = program.Status.PAUSED
    program.save(update_fields=["status"])
    assert api.post("/api/v1/links", body).json()["live"] is False
    assert api.get(f"/api/v1/links/{created['id']}").json()["live"] is False
    assert api.get("/api/v1/links").json()["results"][0]["live"] is False
    event = {"id": "o-1", "type": "purchase", "email": "f@x.test", "amount": "5",
             "code": created["code"]}  # fmt: skip
    # The purchase is kept, credited to no one, and the answer says the code was set aside.
    refused = api.post("/api/v1/events", event)
    assert refused.status_code == 201 and refused.json()["referral"] is None
    assert [w["code"] for w in refused.json()["warnings"]] == ["code_not_live"]

    program.status = program.Status.ACTIVE
    program.save(update_fields=["status"])
    source.active = False
    source.save(update_fields=["active"])
    assert api.get(f"/api/v1/links/{created['id']}").json()["live"] is False
    source.active = True
    source.save(update_fields=["active"])
    assert api.get(f"/api/v1/links/{created['id']}").json()["live"] is True


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_for_a_new_link_answer_one_201(acme, monkeypatch):
    """Two first requests for a source's link at once (a retry after a timeout): both
    found no link before they started, so both answered 201, though only one made it
    (docs/api.md: created on first use, 201; the same link after that, 200)."""
    import threading

    from django.db import connections

    from referrals.services import links
    from tests.api.conftest import Api, key_for
    from tests.factories import ProgramFactory, ReferralSourceFactory

    program = ProgramFactory(organization=acme)
    program.save()
    source = ReferralSourceFactory(organization=acme)
    key = key_for(acme)
    original = links.generate_code
    inside, release = threading.Event(), threading.Event()

    def slow_code():
        if not inside.is_set():
            inside.set()
            release.wait(5)  # the first request holds here, before its insert
        return original()

    monkeypatch.setattr(links, "generate_code", slow_code)
    answers = []

    def send():
        try:
            body = {"source": source.pk, "program": program.pk}
            answers.append(Api(key).post("/api/v1/links", body))
        finally:
            connections.close_all()

    first = threading.Thread(target=send)
    first.start()
    try:
        assert inside.wait(5)
        second = threading.Thread(target=send)
        second.start()
        second.join(10)  # the second makes the link while the first waits
    finally:
        release.set()
        first.join(10)
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert ReferralLink.objects.filter(source=source).count() == 1
