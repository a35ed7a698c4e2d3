"""/api/v1/programs (with their rules) and /api/v1/links (a source's link into a program)."""

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
