"""
A friend's name is a name, whoever types it.

An email introduction puts the friend's name, as the source typed it, into an email from the
business to the address the source typed: a source's portal (or a landing page, whose
welcome email goes to the address typed there) could otherwise send any text, links and
all, to anyone. ``referral_introduce`` refuses a name with a web or email address, a line
break or a control character, or longer than the referral keeps; the portal, the landing
page, the dashboard and the API all say so and record nothing.
"""

import pytest
from django.core.exceptions import ValidationError

from core.email import render_email_parts
from core.models import OutboxMessage
from referrals.models import Referral
from referrals.services import referral_introduce

BAD_NAMES = [
    "Gus https://spam.example/win",
    "Claim at http://bit.ly/x",
    "ftp://files",
    "Gus www.win-big",
    "Visit example.com now",
    "Visit EXAMPLE.COM now",
    "Gus (spam.io)",
    "Gus xn--80ak6aa92e.xn--p1ai",
    "Gus gus@spam.example",
    "Gus @home",
    "Gus\nClaim your prize",
    "Gus\r\nBcc: you",
    "Gus\u2028Claim",
    "Gus\tTab",
    "Gus\x07",
    "Gus\u202eevil",
    "Gus\uff0eexample\uff0ecom",  # fullwidth dots: example.com once normalized
    "G" * 201,
]

GOOD_NAMES = ["Gus", "Mary-Ann O'Brien", "J. R. R. Tolkien", "Zoë Ørsted", "李小龍", "G" * 200]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_service_refuses_a_name_that_is_not_a_name(program, source, name):
    with pytest.raises(ValidationError) as error:
        referral_introduce(
            program=program,
            source=source,
            channel="email",
            friend_email="gus@example.org",
            friend_name=name,
        )
    assert list(error.value.message_dict) == ["friend_name"]
    assert not Referral.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_the_service_keeps_a_real_name(program, source, name):
    referral, _ = referral_introduce(
        program=program,
        source=source,
        channel="email",
        friend_email="gus@example.org",
        friend_name=f"  {name} ",
    )
    assert referral.friend_name == name


def portal_introduce(client, source, program, name):
    return client.post(
        f"/me/{source.portal_token}/introduce/",
        {"program": program.pk, "name": name, "email": "victim@example.org"},
        follow=True,
    )


def test_the_portal_refuses_a_link_in_the_name_and_sends_nothing(client, program, source):
    response = portal_introduce(client, source, program, "Win money at https://spam.example")
    assert response.status_code == 200
    assert "web address" in response.content.decode()
    assert not Referral.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_the_portal_refuses_a_multi_line_name(client, program, source):
    response = portal_introduce(client, source, program, "Gus\r\nYou won a prize, call now")
    assert "line break" in response.content.decode()
    assert not Referral.objects.exists()


def test_the_landing_page_refuses_a_link_in_the_name_at_the_name_field(client, link):
    response = client.post(
        f"/r/{link.code}", {"name": "Gus visit spam.example", "email": "victim@example.org"}
    )
    assert response.status_code == 400
    assert "web address" in str(response.context["form"].errors["name"])
    assert not Referral.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_the_dashboard_refuses_a_link_in_the_name_as_a_field_error(login, bob, program, source):
    response = login(bob).post(
        "/app/referrals/new/",
        {
            "program": program.pk,
            "source": source.pk,
            "channel": "email",
            "friend_name": "Fay www.spam.example",
            "friend_email": "fay@example.com",
        },
    )
    assert response.status_code == 400
    assert "web address" in str(response.context["form"].errors["friend_name"])
    assert not Referral.objects.exists()


def test_the_introduction_email_escapes_the_name_in_html(program, source):
    referral = Referral(program=program, source=source, friend_name='Ann <a href="x">Bo</a>')
    email = render_email_parts(
        "introduction", organization=program.organization, referral=referral, url="https://x/r/c"
    )
    assert "<a href=" not in email.html.split("Hello", 1)[1].split(",", 1)[0]
    assert "Ann &lt;a href=&quot;x&quot;&gt;Bo&lt;/a&gt;" in email.html


def test_an_event_with_a_code_for_a_customer_named_like_a_domain_still_counts(acme, link):
    """The business names its own customers: a name that is no friend's name by the
    introduction rules leaves the referral nameless, and the event is recorded."""
    from decimal import Decimal

    from accounts.models import Customer
    from referrals.services import event_record

    Customer.objects.create(organization=acme, email="shop@example.org", name="Shop.example Ltd")
    conversion, created = event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("10"),
        email="shop@example.org",
        name="Shop.example Ltd",
        code=link.code,
    )
    assert created and conversion.referral.source == link.source
    assert conversion.referral.friend_name == ""
