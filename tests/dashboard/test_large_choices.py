"""
A form never lists 50,000 sources or a million customers (``dashboard/fields.py``).

Up to ``SELECT_MAX`` choices it is a drop-down; past that a text box taking the row's
number or a key staff know (an email, the business's own customer id).
"""

import pytest

from dashboard import fields
from dashboard.accounts.forms import SourceForm
from dashboard.referrals.forms import IntroductionForm
from tests.factories import CustomerFactory, ReferralSourceFactory


@pytest.fixture
def many_sources(acme, source, monkeypatch):
    monkeypatch.setattr(fields, "SELECT_MAX", 2)
    return [
        source,
        ReferralSourceFactory(organization=acme, name="Ann", email="ann@example.com"),
        ReferralSourceFactory(organization=acme, name="Ann Too", email="ANN@example.com"),
    ]


def introduction(acme, program, source_value):
    data = {
        "program": program.pk,
        "source": source_value,
        "channel": "phone",
        "friend_name": "Fay Friend",
    }
    return IntroductionForm(data, organization=acme)


def test_a_few_choices_stay_a_drop_down(acme, program, source):
    form = IntroductionForm(organization=acme)

    assert "<option" in str(form["source"]) and "Sam Source" in str(form["source"])


def test_many_choices_become_a_text_box_naming_none_of_them(acme, program, many_sources):
    html = str(IntroductionForm(organization=acme)["source"])

    assert 'type="text"' in html and "<option" not in html and "Sam Source" not in html


def test_the_text_box_takes_the_number_or_the_email(acme, program, many_sources):
    sam = many_sources[0]

    by_number = introduction(acme, program, str(sam.pk))
    by_email = introduction(acme, program, "SAM@example.com")

    assert by_number.is_valid() and by_number.cleaned_data["source"] == sam
    assert by_email.is_valid() and by_email.cleaned_data["source"] == sam


def test_an_unknown_or_ambiguous_choice_is_a_form_error(acme, program, many_sources, globex):
    other_tenant = ReferralSourceFactory(organization=globex, email="zed@example.com")

    for value, message in [
        ("nobody@example.com", "No source matches that."),
        ("ann@example.com", "Several sources match that: give its number instead."),
        (str(other_tenant.pk), "No source matches that."),
    ]:
        form = introduction(acme, program, value)
        assert not form.is_valid()
        assert form.errors["source"] == [message]


def test_a_source_is_tied_to_a_customer_by_their_own_id(acme, monkeypatch):
    monkeypatch.setattr(fields, "SELECT_MAX", 1)
    CustomerFactory(organization=acme, external_id="NB-1", email="a@example.com")
    customer = CustomerFactory(organization=acme, external_id="NB-2", email="b@example.com")
    data = {"kind": "customer", "name": "Bo", "email": "b@example.com", "customer": "NB-2"}

    form = SourceForm(data, organization=acme)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["customer"] == customer
    assert 'value="NB-2"' in str(form["customer"])


@pytest.mark.parametrize("typed", ["²", "١٢", "99999999999999999999999"])
def test_a_number_in_other_digits_or_out_of_range_is_a_form_error_not_a_500(
    login, bob, program, many_sources, typed
):
    # "²" and Arabic-Indic digits pass str.isdigit() but int() refuses them.
    response = login(bob).post(
        "/app/referrals/new/",
        {"program": program.pk, "source": typed, "channel": "phone", "friend_name": "Fay"},
    )

    assert response.status_code == 400
    assert "No source matches that." in response.content.decode()
