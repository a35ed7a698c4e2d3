"""Sign-up and whether it tells a stranger that an email address has an account.

allauth hides it (ACCOUNT_PREVENT_ENUMERATION, on by default) only when email
verification is mandatory: then sign-up answers "check your email" whether or not the
address is taken, and mails its owner instead. With verification "optional" (the default
here, so that the demo login and the first hour work without a mailbox) a new address is
signed in at once and a taken one cannot be, so the answer necessarily differs; production
turns ACCOUNT_EMAIL_VERIFICATION=mandatory on to close it (README, Settings).
"""

from django.core import mail
from django.test import override_settings

from accounts.models import User

PASSWORD = "a-Long-pass-phrase-42"


def _signup(client, email):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


@override_settings(ACCOUNT_EMAIL_VERIFICATION="mandatory")
def test_with_mandatory_verification_a_taken_address_gets_the_same_answer(client, alice):
    taken = _signup(client, "alice@example.com")
    client.logout()
    new = _signup(client, "new@example.com")

    assert taken.status_code == new.status_code == 302
    assert taken["Location"] == new["Location"]
    assert User.objects.filter(email="alice@example.com").count() == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "new@example.com"]


def test_with_optional_verification_a_new_address_is_signed_in_at_once(client, db):
    response = _signup(client, "new@example.com")
    assert response.status_code == 302
    assert client.get("/app/")["Location"] == "/app/onboarding/"
