"""The program list and a program's page: right counts, and bounded at any size."""

from referrals.models import Click
from referrals.services import link_get_or_create, referral_create
from tests.factories import ReferralSourceFactory


def test_the_list_counts_links_and_referrals_without_fan_out(login, charlie, program, acme):
    for n in range(3):
        source = ReferralSourceFactory(organization=acme, name=f"S{n}", kind="customer")
        link = link_get_or_create(program=program, source=source)
        for m in range(2):
            referral_create(
                program=program,
                source=source,
                link=link,
                channel="link",
                friend_email=f"{n}-{m}@x.io",
            )
    response = login(charlie).get("/app/programs/")
    row = next(p for p in response.context["programs"] if p.pk == program.pk)
    assert (row.link_count, row.referral_count) == (3, 6)  # not 3 x 6 from a double join


def test_past_the_cap_the_list_says_more_than_it_counted(
    login, charlie, program, acme, monkeypatch
):
    # Counting every referral of a program with hundreds of thousands takes longer than
    # the page may: the list counts up to the cap (10,000) and says "more than" past it.
    monkeypatch.setattr("dashboard.referrals.views.COUNT_CAP", 2)
    for n in range(3):
        source = ReferralSourceFactory(organization=acme, name=f"S{n}", kind="customer")
        referral_create(
            program=program,
            source=source,
            link=link_get_or_create(program=program, source=source),
            channel="link",
            friend_email=f"{n}@x.io",
        )

    response = login(charlie).get("/app/programs/")

    row = next(p for p in response.context["programs"] if p.pk == program.pk)
    assert (row.link_count, row.referral_count) == (3, 3)  # counted up to cap + 1
    assert response.content.decode().count("<td>more than 2</td>") == 2


def test_the_program_page_pages_and_finds_links(
    login, charlie, program, acme, django_assert_max_num_queries
):
    for n in range(60):
        source = ReferralSourceFactory(organization=acme, name=f"Source {n:02}", kind="customer")
        link = link_get_or_create(program=program, source=source)
    Click.objects.create(organization=link.organization, link=link, user_agent="UA")
    client = login(charlie)
    with django_assert_max_num_queries(12):
        page = client.get(f"/app/programs/{program.pk}/").context["page"]
    assert len(page) == 50 and page.paginator.count == 60
    found = client.get(f"/app/programs/{program.pk}/?q=Source 59").context["page"]
    assert [link.source.name for link in found] == ["Source 59"]
    assert found[0].click_count == 1


def test_without_a_source_create_link_says_to_add_one_first(login, bob, program):
    page = login(bob).get(f"/app/programs/{program.pk}/").content.decode()
    assert 'data-testid="link-hint"' in page and 'href="/app/sources/new/"' in page
    assert "Create link" not in page


def test_with_a_source_the_page_offers_create_link(login, bob, program, source):
    page = login(bob).get(f"/app/programs/{program.pk}/").content.decode()
    assert "Create link" in page and 'data-testid="link-hint"' not in page


def test_the_program_page_says_what_each_rule_pays(login, charlie, program):
    from decimal import Decimal

    from tests.factories import RewardRuleFactory

    RewardRuleFactory(program=program, amount=Decimal("20.00"), hold_days=30)
    page = login(charlie).get(f"/app/programs/{program.pk}/").content.decode()
    assert (
        "The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold" in page
    )
