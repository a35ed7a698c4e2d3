"""
The dashboard's rule form: an invalid rule is a 400 with the error on its field, and
nothing is saved; only managers and owners may add rules, to their own programs.
"""

import pytest

from referrals.services import program_create
from rewards.models import RewardRule

VALID = {
    "name": "Thank-you credit",
    "beneficiary": "referrer",
    "trigger": "first_purchase",
    "formula": "fixed",
    "amount": "15.00",
    "percent": "0",
    "reward_kind": "credit",
    "hold_days": 0,
    "credit_lifetime_days": 180,
}


def tier_rows(*rows) -> dict:
    """The tier rows as the form posts them (a formset with the prefix "tiers")."""
    data = {"tiers-TOTAL_FORMS": str(len(rows)), "tiers-INITIAL_FORMS": "0"}
    for index, (threshold, rate) in enumerate(rows):
        data[f"tiers-{index}-threshold"] = threshold
        data[f"tiers-{index}-rate"] = rate
    return data


def url(program):
    return f"/app/programs/{program.pk}/rules/new/"


def test_it_adds_a_rule(login, bob, program):
    response = login(bob).post(url(program), VALID)
    assert response.status_code == 302
    rule = RewardRule.objects.get()
    assert (rule.amount, rule.currency, rule.tiers) == (15, "EUR", [])


def test_the_form_has_tier_rows_no_json_box_and_no_currency_choice(login, bob, program):
    page = login(bob).get(url(program)).content.decode()
    assert 'name="tiers-0-threshold"' in page and 'name="tiers-0-rate"' in page
    assert ">null<" not in page and 'name="currency"' not in page
    assert 'data-formula="fixed"' in page and 'data-formula="percent"' in page


def test_a_posted_currency_is_ignored_the_organizations_applies(login, bob, program):
    assert login(bob).post(url(program), {**VALID, "currency": "USD"}).status_code == 302
    assert RewardRule.objects.get().currency == "EUR"


def test_it_says_what_the_rule_pays_while_it_is_filled_in(login, bob, program):
    data = {**VALID, "amount": "20", "hold_days": "30", "credit_lifetime_days": "365"}
    response = login(bob).post(url(program), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode() == (
        "The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold; "
        "credit expires after 365 days."
    )
    assert not RewardRule.objects.exists()


def test_count_tiers_are_stored_from_rows(login, bob, program):
    response = login(bob).post(url(program), {**VALID, **tier_rows(("5", "30"), ("", ""))})
    assert response.status_code == 302
    assert RewardRule.objects.get().tiers == [{"min_referrals": 5, "amount": "30"}]


def test_it_adds_a_tiered_percent_rule(login, bob, program):
    response = login(bob).post(
        url(program),
        {
            **VALID,
            "trigger": "every_purchase",
            "formula": "percent",
            "percent": "5",
            "cap": "50",
            "lifetime_cap": "200",
            "tier_basis": "value",
            **tier_rows(("1000", "7.5")),
            "reward_kind": "cash",
            "hold_days": 30,
        },
    )
    assert response.status_code == 302
    rule = RewardRule.objects.get()
    assert rule.tiers == [{"min_value": "1000", "percent": "7.5"}]
    assert (rule.tier_basis, rule.reward_kind, rule.hold_days) == ("value", "cash", 30)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "-5"}, "The amount cannot be negative."),
        ({"formula": "percent", "percent": "120"}, "A percent cannot be over 100."),
        ({"cap": "-1"}, "The cap cannot be below zero."),
        ({"lifetime_cap": "-1"}, "The lifetime cap cannot be below zero."),
        ({"beneficiary": "friend", "reward_kind": "cash"}, "cash and gift cards are paid out"),
        (tier_rows(("5", "")), "Give both the threshold and what it pays, or neither."),
        (tier_rows(("five", "30")), "Enter a number."),
        (tier_rows(("5.5", "30")), "A tier counts whole referrals"),
        (tier_rows(("5", "30"), ("5", "50")), "Two tiers start at 5"),
    ],
)
def test_an_invalid_rule_is_a_form_error_and_nothing_is_saved(login, bob, program, change, message):
    response = login(bob).post(url(program), {**VALID, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RewardRule.objects.exists()


def test_an_analyst_cannot_add_a_rule(login, charlie, program):
    assert login(charlie).get(url(program)).status_code == 403
    assert login(charlie).post(url(program), VALID).status_code == 403
    assert not RewardRule.objects.exists()


def test_it_hides_another_organizations_program(login, eve, program):
    assert login(eve).post(url(program), VALID).status_code == 404


def test_it_requires_sign_in(client, program):
    response = client.get(url(program))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_usd_organization_gets_usd_rules(login, eve, globex):
    program = program_create(organization=globex, name="Globex friends")
    assert login(eve).post(url(program), VALID).status_code == 302
    assert RewardRule.objects.get().currency == "USD"
