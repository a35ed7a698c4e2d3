"""A customer known only by email is one customer per email, per organization (0005).

Racing events used to create several such customers for one person. Before the constraint
goes on, each group of them is merged into its earliest: every row of any app that pointed
at a duplicate points at the survivor (a duplicate's credit account is folded into the
survivor's), which keeps the earliest first-seen date, and is referred if any of them was.
Customers with the business's own id are left alone: they may share an email.
"""

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower


def _relations_to(apps, model):
    """(related model, field name, is one-to-one) of every concrete relation to ``model``."""
    for related in apps.get_models():
        for field in related._meta.concrete_fields:
            if field.is_relation and field.related_model is model:
                yield related, field.name, field.one_to_one


def _merge(apps, survivor, duplicate) -> None:
    Customer = apps.get_model("accounts", "Customer")
    CreditAccount = apps.get_model("rewards", "CreditAccount")
    for related, name, one_to_one in _relations_to(apps, Customer):
        rows = related._base_manager.filter(**{name: duplicate})
        if not one_to_one or not related._base_manager.filter(**{name: survivor}).exists():
            rows.update(**{name: survivor})
            continue
        if related is not CreditAccount:
            raise RuntimeError(f"Cannot merge customer {duplicate.pk}: both have a {related}.")
        # Both have a credit account: move the duplicate's ledgers into the survivor's.
        kept = CreditAccount.objects.get(customer=survivor)
        for account in rows:
            for model, field, _ in _relations_to(apps, CreditAccount):
                model._base_manager.filter(**{field: account}).update(**{field: kept})
            account.delete()
    changed = []
    if duplicate.first_seen_at < survivor.first_seen_at:
        survivor.first_seen_at = duplicate.first_seen_at
        changed.append("first_seen_at")
    if duplicate.is_referred and not survivor.is_referred:
        survivor.is_referred = True
        changed.append("is_referred")
    for name in ("name", "phone"):
        if not getattr(survivor, name) and getattr(duplicate, name):
            setattr(survivor, name, getattr(duplicate, name))
            changed.append(name)
    if changed:
        survivor.save(update_fields=changed)
    duplicate.delete()


def merge_duplicates(apps, schema_editor):
    Customer = apps.get_model("accounts", "Customer")
    email_only = Customer.objects.filter(external_id="").exclude(email="")
    groups = (
        email_only.annotate(email_lower=Lower("email"))
        .values("organization_id", "email_lower")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    for group in groups:
        same = list(
            email_only.annotate(email_lower=Lower("email"))
            .filter(organization_id=group["organization_id"], email_lower=group["email_lower"])
            .order_by("first_seen_at", "pk")
        )
        for duplicate in same[1:]:
            _merge(apps, same[0], duplicate)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_source_portal_token_expiry'),
        # Every table that points at a customer, in its final shape, for the merge.
        ('referrals', '0004_conversion_is_attribution'),
        ('rewards', '0006_reward_taken_back'),
    ]

    operations = [
        migrations.RunPython(merge_duplicates, migrations.RunPython.noop),
    ]
