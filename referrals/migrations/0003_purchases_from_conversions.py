"""Every conversion that moved money becomes a purchase (or refund) of its customer, and the
conversion keeps only the attribution: which referral and source it is credited to.

- A conversion without a customer (a friend introduced by phone, say) gets its referral's
  friend, found by email or made from the referral's name and phone.
- Purchases, and advocacy with an amount, become purchases; refunds become refunds of the
  purchase they named. A refund that named none (the old code allowed it) is tied to the
  friend's latest earlier purchase it fits in, or left without an order if none does.
- Signups, and advocacy without an amount, keep no purchase.

Reversible: going back copies each purchase's amount, currency and refunded order onto its
conversion again (purchases nobody was credited with do not exist before this migration).
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery

BATCH = 2000


def _batches(queryset):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _give_customers(apps):
    Conversion = apps.get_model("referrals", "Conversion")
    Customer = apps.get_model("accounts", "Customer")
    for conversion in Conversion.objects.filter(customer__isnull=True).select_related("referral"):
        referral = conversion.referral
        if referral.friend_id is None:
            friend = None
            if referral.friend_email:
                friend = (
                    Customer.objects.filter(
                        organization_id=referral.organization_id,
                        email__iexact=referral.friend_email,
                    )
                    .order_by("first_seen_at", "pk")
                    .first()
                )
            if friend is None:
                friend = Customer.objects.create(
                    organization_id=referral.organization_id,
                    email=referral.friend_email.lower(),
                    name=referral.friend_name,
                    phone=referral.friend_phone,
                    first_seen_at=conversion.occurred_at,
                )
            referral.friend_id = friend.pk
            referral.save(update_fields=["friend"])
        conversion.customer_id = referral.friend_id
        conversion.save(update_fields=["customer"])


def _purchase_of(Purchase, conversion, kind):
    return Purchase(
        organization_id=conversion.organization_id,
        customer_id=conversion.customer_id,
        kind=kind,
        external_id=conversion.external_id,
        amount=conversion.amount,
        currency=conversion.currency,
        occurred_at=conversion.occurred_at,
        created_at=conversion.created_at,
        recorded_by_id=conversion.recorded_by_id,
    )


def forward(apps, schema_editor):
    Conversion = apps.get_model("referrals", "Conversion")
    Purchase = apps.get_model("referrals", "Purchase")
    Referral = apps.get_model("referrals", "Referral")
    _give_customers(apps)
    Conversion.objects.filter(source__isnull=True).update(
        source_id=Subquery(Referral.objects.filter(pk=OuterRef("referral_id")).values("source_id"))
    )
    sold = Conversion.objects.filter(purchase__isnull=True, kind__in=["purchase", "advocacy"])
    sold = sold.exclude(kind="advocacy", amount=0)
    for conversions in _batches(sold):
        purchases = [_purchase_of(Purchase, c, "purchase") for c in conversions]
        Purchase.objects.bulk_create(purchases)
        for conversion, purchase in zip(conversions, purchases, strict=True):
            conversion.purchase_id = purchase.pk
        Conversion.objects.bulk_update(conversions, ["purchase"])
    refunds = Conversion.objects.filter(purchase__isnull=True, kind="refund").select_related(
        "refund_of"
    )
    for conversions in _batches(refunds):
        purchases = []
        for conversion in conversions:
            refund = _purchase_of(Purchase, conversion, "refund")
            if conversion.refund_of_id is not None:
                refund.refund_of_id = conversion.refund_of.purchase_id
            else:
                refund.refund_of_id = (
                    Conversion.objects.filter(
                        referral_id=conversion.referral_id,
                        kind="purchase",
                        occurred_at__lte=conversion.occurred_at,
                        amount__gte=conversion.amount,
                        purchase__isnull=False,
                    )
                    .order_by("-occurred_at", "-pk")
                    .values_list("purchase_id", flat=True)
                    .first()
                )
            purchases.append(refund)
        Purchase.objects.bulk_create(purchases)
        for conversion, purchase in zip(conversions, purchases, strict=True):
            conversion.purchase_id = purchase.pk
        Conversion.objects.bulk_update(conversions, ["purchase"])


def backward(apps, schema_editor):
    Conversion = apps.get_model("referrals", "Conversion")
    Organization = apps.get_model("accounts", "Organization")
    currencies = dict(Organization.objects.values_list("pk", "currency"))
    credited = Conversion.objects.select_related("purchase", "purchase__refund_of__conversion")
    for conversions in _batches(credited):
        for conversion in conversions:
            purchase = conversion.purchase
            if purchase is None:
                conversion.amount = 0
                conversion.currency = currencies[conversion.organization_id]
                continue
            conversion.amount = purchase.amount
            conversion.currency = purchase.currency
            order = purchase.refund_of
            conversion.refund_of_id = getattr(order, "conversion", None) and order.conversion.pk
        Conversion.objects.bulk_update(conversions, ["amount", "currency", "refund_of"])


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0002_purchase'),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
