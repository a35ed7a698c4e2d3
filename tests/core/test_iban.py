"""IBANs a source types into its portal: a known country's length and the mod-97 check."""

import pytest
from django.core.exceptions import ValidationError

from core.validators import normalize_iban, validate_bic, validate_iban


@pytest.mark.parametrize(
    "iban",
    [
        "NL91ABNA0417164300",
        "nl91 abna 0417 1643 00",  # as people type it: grouped, any case
        "DE89370400440532013000",
        "GB29NWBK60161331926819",
        "BE68539007547034",
        "NO9386011117947",  # the shortest
        "FR1420041010050500013M02606",  # letters inside the account number
    ],
)
def test_a_valid_iban_passes(iban):
    validate_iban(iban)


@pytest.mark.parametrize(
    "iban, message",
    [
        ("NL91ABNA0417164301", "check digits do not match"),  # one digit mistyped
        ("NL19ABNA0417164300", "check digits do not match"),  # check digits swapped
        ("NL91ABNA041716430", "An IBAN from NL has 18 characters; this one has 17."),
        ("DE8937040044053201300", "An IBAN from DE has 22 characters"),
        ("ZZ91ABNA0417164300", "starts with a country code"),
        ("NLXXABNA0417164300", "starts with a country code"),
        ("NL91-ABNA-0417-1643-00", "only letters and digits"),
        ("NL91ÄBNA0417164300", "only letters and digits"),
    ],
)
def test_a_wrong_iban_says_what_is_wrong(iban, message):
    with pytest.raises(ValidationError) as caught:
        validate_iban(iban)
    assert message in caught.value.messages[0]


def test_an_iban_is_stored_without_spaces_in_capitals():
    assert normalize_iban(" nl91 abna 0417\t1643 00 ") == "NL91ABNA0417164300"


@pytest.mark.parametrize("bic", ["ABNANL2A", "abnanl2a", "DEUTDEFF500", ""])
def test_a_bic_of_8_or_11_characters_passes(bic):
    validate_bic(bic)


@pytest.mark.parametrize("bic", ["ABNANL2", "ABNANL2A5", "1BNANL2A", "ABNANL2A-00"])
def test_a_malformed_bic_is_refused(bic):
    with pytest.raises(ValidationError):
        validate_bic(bic)
