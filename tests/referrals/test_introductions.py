"""Introductions by email, phone or in person, recorded by staff."""

import pytest
from django.core import mail

from referrals.models import Referral
from tests.factories import ReferralSourceFactory
from tests.helpers import wait_for


@pytest.mark.worker
def test_an_email_introduction_emails_the_friend_with_the_sources_link(
    login, bob, program, source, celery_worker
):
    response = login(bob).post(
        "/app/referrals/new/",
        {
            "program": program.pk,
            "source": source.pk,
            "channel": "email",
            "friend_name": "Fay",
            "friend_email": "fay@example.com",
        },
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.channel == "email" and referral.events.get().actor_label == "bob@example.com"
    message = wait_for(lambda: next((m for m in mail.outbox if m.to == ["fay@example.com"]), None))
    link = source.links.get(program=program)
    assert "Sam Source introduced you to Acme Bank" in message.subject
    assert f"/r/{link.code}" in message.body and "€50 welcome bonus" in message.body


def test_a_phone_introduction_is_recorded_without_email(
    login, bob, program, source, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(bob).post(
            "/app/referrals/new/",
            {
                "program": program.pk,
                "source": source.pk,
                "channel": "phone",
                "friend_name": "Gus",
                "friend_phone": "+31 6 1234",
            },
        )
    assert response.status_code == 302
    assert Referral.objects.get().channel == "phone"
    assert mail.outbox == []


def test_an_introduction_needs_an_email_or_phone(login, bob, program, source):
    response = login(bob).post(
        "/app/referrals/new/",
        {"program": program.pk, "source": source.pk, "channel": "in_person", "friend_name": "Hal"},
    )
    assert response.status_code == 400
    assert not Referral.objects.exists()


def test_a_source_kind_the_program_does_not_accept_is_refused(login, bob, program, acme):
    from referrals.services import program_update

    program_update(program=program, allowed_source_kinds=["customer"])
    lawyer = ReferralSourceFactory(organization=acme, name="Lex", kind="intermediary")
    response = login(bob).post(
        "/app/referrals/new/",
        {
            "program": program.pk,
            "source": lawyer.pk,
            "channel": "phone",
            "friend_name": "Ivy",
            "friend_phone": "123",
        },
    )
    assert response.status_code == 400
    assert "does not accept sources of kind Intermediary" in response.content.decode()


def test_another_tenants_program_cannot_be_chosen(login, eve, program, source):
    response = login(eve).post(
        "/app/referrals/new/",
        {
            "program": program.pk,
            "source": source.pk,
            "channel": "phone",
            "friend_name": "X",
            "friend_phone": "1",
        },
    )
    assert response.status_code == 400
    assert not Referral.objects.exists()


def test_sending_the_landing_form_again_is_the_same_lead(client, link):
    from referrals.models import Referral

    for _ in range(3):
        response = client.post(f"/r/{link.code}", {"name": "Fay", "email": "Fay@Example.com"})
        assert response.status_code == 200
    referral = Referral.objects.get()
    assert (referral.friend_email, referral.flagged) == ("fay@example.com", False)


def test_the_same_friend_on_another_sources_link_is_still_a_new_referral(client, link, acme):
    from referrals.models import Referral
    from referrals.services import link_get_or_create
    from tests.factories import ReferralSourceFactory

    other = link_get_or_create(
        program=link.program, source=ReferralSourceFactory(organization=acme, name="Olive")
    )
    client.post(f"/r/{link.code}", {"name": "Fay", "email": "fay@example.com"})
    client.post(f"/r/{other.code}", {"name": "Fay", "email": "fay@example.com"})
    assert Referral.objects.count() == 2
    assert Referral.objects.get(source=other.source).flag_reasons == ["duplicate_friend"]


LONG_EMAIL = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 308 characters


def test_an_introduction_with_an_email_over_254_characters_is_a_field_error(
    login, bob, program, source
):
    # The staff form's EmailField takes 320 characters; a referral keeps 254.
    response = login(bob).post(
        "/app/referrals/new/",
        {
            "program": program.pk,
            "source": source.pk,
            "channel": "email",
            "friend_name": "Fay",
            "friend_email": LONG_EMAIL,
        },
    )
    assert response.status_code == 400
    assert "254 characters" in response.content.decode()
    assert not Referral.objects.exists()


def test_an_event_with_an_email_over_254_characters_is_a_field_error(acme):
    from decimal import Decimal

    from django.core.exceptions import ValidationError

    from referrals.services import event_record

    with pytest.raises(ValidationError) as error:
        event_record(
            organization=acme,
            kind="purchase",
            external_id="o-1",
            amount=Decimal("10"),
            email=LONG_EMAIL,
        )
    assert "email" in error.value.message_dict
