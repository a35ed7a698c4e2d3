"""
The data migrations, run on rows of the old shape on the real PostgreSQL: conversions that
carried their own amount become purchases with an attribution, and customers known only by
email that races had duplicated are merged before their unique constraint goes on.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("accounts", "0003_organization_language"),
    ("referrals", "0001_initial"),
    ("rewards", "0003_reward_contribution"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield migrate(BEFORE)
    migrate(latest)  # whatever the test did, the next test finds the schema it expects


def test_conversions_become_purchases_credited_to_their_referral(old_apps):
    Organization = old_apps.get_model("accounts", "Organization")
    Customer = old_apps.get_model("accounts", "Customer")
    Source = old_apps.get_model("accounts", "ReferralSource")
    Program = old_apps.get_model("referrals", "Program")
    Referral = old_apps.get_model("referrals", "Referral")
    Conversion = old_apps.get_model("referrals", "Conversion")
    now = timezone.now()
    org = Organization.objects.create(name="Acme", slug="acme", currency="EUR")
    sam = Source.objects.create(organization=org, name="Sam", kind="customer")
    program = Program.objects.create(organization=org, name="Friends", allowed_source_kinds=[])
    fay = Customer.objects.create(organization=org, email="fay@example.com")
    by_mail = Referral.objects.create(
        organization=org, program=program, source=sam, friend=fay, friend_email=fay.email
    )
    by_phone = Referral.objects.create(
        organization=org, program=program, source=sam, friend_name="Phil", friend_phone="+31 6"
    )

    def conversion(referral, kind, external_id, amount, days_ago, **fields):
        return Conversion.objects.create(
            organization=org,
            referral=referral,
            customer=referral.friend,
            kind=kind,
            external_id=external_id,
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=now - timedelta(days=days_ago),
            **fields,
        )

    conversion(by_mail, "signup", "S-1", "0", 10)
    first = conversion(by_mail, "purchase", "F-1", "200", 9, is_first_purchase=True)
    conversion(by_mail, "purchase", "F-2", "50", 8)
    conversion(by_mail, "refund", "R-1", "30", 7, refund_of=first)
    conversion(by_mail, "refund", "R-2", "40", 6)  # named no order (the old code allowed it)
    conversion(by_mail, "advocacy", "A-1", "70", 5)
    conversion(by_phone, "purchase", "P-1", "90", 4, is_first_purchase=True)

    new_apps = migrate([("referrals", "0004_conversion_is_attribution")])

    Purchase = new_apps.get_model("referrals", "Purchase")
    Conversion = new_apps.get_model("referrals", "Conversion")
    purchases = {p.external_id: p for p in Purchase.objects.select_related("refund_of")}
    assert set(purchases) == {"F-1", "F-2", "R-1", "R-2", "A-1", "P-1"}  # not the signup
    assert {p.external_id: (p.kind, p.amount) for p in purchases.values()} == {
        "F-1": ("purchase", Decimal("200.00")),
        "F-2": ("purchase", Decimal("50.00")),
        "R-1": ("refund", Decimal("30.00")),
        "R-2": ("refund", Decimal("40.00")),
        "A-1": ("purchase", Decimal("70.00")),
        "P-1": ("purchase", Decimal("90.00")),
    }
    assert purchases["R-1"].refund_of.external_id == "F-1"
    assert purchases["R-2"].refund_of.external_id == "F-2"  # the latest earlier one it fits
    for c in Conversion.objects.all():
        assert c.source_id == sam.pk
        assert (c.purchase_id is None) == (c.kind == "signup")
        if c.purchase_id:
            assert Purchase.objects.get(pk=c.purchase_id).external_id == c.external_id
    phil = Purchase.objects.get(external_id="P-1").customer
    assert (phil.name, phil.phone) == ("Phil", "+31 6")
    assert new_apps.get_model("referrals", "Referral").objects.get(pk=by_phone.pk).friend_id == (
        phil.pk
    )


def test_customers_known_only_by_email_that_races_duplicated_are_merged(old_apps):
    Organization = old_apps.get_model("accounts", "Organization")
    Customer = old_apps.get_model("accounts", "Customer")
    Source = old_apps.get_model("accounts", "ReferralSource")
    Program = old_apps.get_model("referrals", "Program")
    Referral = old_apps.get_model("referrals", "Referral")
    Account = old_apps.get_model("rewards", "CreditAccount")
    Lot = old_apps.get_model("rewards", "CreditLot")
    now = timezone.now()
    org = Organization.objects.create(name="Acme", slug="acme", currency="EUR")
    first = Customer.objects.create(
        organization=org, email="fay@example.com", first_seen_at=now - timedelta(days=2)
    )
    second = Customer.objects.create(
        organization=org, email="FAY@example.com", name="Fay", is_referred=True, first_seen_at=now
    )
    with_id = Customer.objects.create(organization=org, email="fay@example.com", external_id="C1")
    sam = Source.objects.create(organization=org, name="Sam", kind="customer")
    program = Program.objects.create(organization=org, name="Friends", allowed_source_kinds=[])
    referral = Referral.objects.create(organization=org, program=program, source=sam, friend=second)
    for holder in (first, second):
        account = Account.objects.create(organization=org, customer=holder, currency="EUR")
        Lot.objects.create(
            organization=org,
            account=account,
            amount=Decimal("5"),
            remaining=Decimal("5"),
            expires_at=now + timedelta(days=30),
        )

    new_apps = migrate([("accounts", "0008_customer_uniq_customer_email_without_id")])

    Customer = new_apps.get_model("accounts", "Customer")
    survivor = Customer.objects.get(pk=first.pk)
    assert not Customer.objects.filter(pk=second.pk).exists()
    assert Customer.objects.filter(pk=with_id.pk).exists()  # has the business's id: kept
    assert (survivor.name, survivor.is_referred) == ("Fay", True)
    assert new_apps.get_model("referrals", "Referral").objects.get(pk=referral.pk).friend_id == (
        first.pk
    )
    [account] = new_apps.get_model("rewards", "CreditAccount").objects.filter(customer=survivor)
    assert new_apps.get_model("rewards", "CreditLot").objects.filter(account=account).count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(organization_id=org.pk, email="Fay@Example.com")
