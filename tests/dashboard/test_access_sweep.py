"""
Every dashboard URL, found by walking the URL resolver, tried by the three people who must
not get through: an anonymous visitor, an analyst trying to write, and a member of another
organization using this organization's ids. Nothing any of them sends may change a row.

A URL added to the dashboard without an entry in ``OBJECT_ARGS`` (or ``NO_ARGS``) fails
``test_the_sweep_covers_every_dashboard_url``, so the sweep grows with the product.
"""

import hashlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import webhooks
from accounts.services import api_key_create
from referrals.services import conversion_record, referral_create
from rewards.services import payout_request, reward_grant_manual
from tests.factories import CsvImportFactory, InvitationFactory

# Pages that come before an organization exists or choose one (tested in
# test_tenancy_everywhere.py): they never take another tenant's id.
BEFORE_AN_ORGANIZATION = {
    "accounts:home",
    "accounts:onboarding",
    "accounts:switch",
    "accounts:invitation_accept",
}

NO_ARGS = {
    "accounts:members",
    "accounts:widget_settings",
    "accounts:organization_settings",
    "accounts:source_list",
    "accounts:source_create",
    "accounts:source_export",
    "accounts:source_import",
    "accounts:customer_list",
    "accounts:customer_export",
    "accounts:customer_import",
    "referrals:program_list",
    "referrals:program_create",
    "referrals:event_create",
    "referrals:referral_list",
    "referrals:introduction_create",
    "referrals:review_queue",
    "rewards:reward_list",
    "rewards:reward_grant",
    "rewards:account_list",
    "rewards:payout_list",
    "rewards:payout_batch",
    "rewards:bank_transfer_csv",
    "analytics:overview",
    "analytics:funnel",
    "analytics:money",
    "analytics:series",
    "analytics:sources",
    "analytics:cohorts",
    "analytics:compare",
    "analytics:value",
    "analytics:source_export",
    "developers:api_keys",
    "developers:webhooks",
    "start:offer",
    "start:test_run",
    "start:test_start",
}

# URL name -> the keyword arguments that point at one of Acme's objects.
OBJECT_ARGS = {
    "accounts:member_role": lambda w: {"membership_id": w["membership"].pk},
    "accounts:member_remove": lambda w: {"membership_id": w["membership"].pk},
    "accounts:invitation_revoke": lambda w: {"invitation_id": w["invitation"].pk},
    "accounts:source_import_preview": lambda w: {"pk": w["source_import"].pk},
    "accounts:source_import_confirm": lambda w: {"pk": w["source_import"].pk},
    "accounts:customer_import_preview": lambda w: {"pk": w["customer_import"].pk},
    "accounts:customer_import_confirm": lambda w: {"pk": w["customer_import"].pk},
    "accounts:source_detail": lambda w: {"pk": w["source"].pk},
    "accounts:source_edit": lambda w: {"pk": w["source"].pk},
    "accounts:source_deactivate": lambda w: {"pk": w["source"].pk},
    "accounts:source_reactivate": lambda w: {"pk": w["source"].pk},
    "accounts:contribution_create": lambda w: {"pk": w["source"].pk},
    "accounts:portal_rotate": lambda w: {"pk": w["source"].pk},
    "accounts:portal_send": lambda w: {"pk": w["source"].pk},
    "referrals:program_detail": lambda w: {"pk": w["program"].pk},
    "referrals:program_edit": lambda w: {"pk": w["program"].pk},
    "referrals:link_create": lambda w: {"pk": w["program"].pk},
    "referrals:program_email_preview": lambda w: {"pk": w["program"].pk, "kind": "source"},
    "referrals:link_qr": lambda w: {"pk": w["link"].pk, "fmt": "svg"},
    "referrals:link_card": lambda w: {"pk": w["link"].pk},
    "referrals:link_vanity": lambda w: {"pk": w["link"].pk},
    "referrals:referral_detail": lambda w: {"pk": w["referral"].pk},
    "referrals:conversion_create": lambda w: {"pk": w["referral"].pk},
    "referrals:referral_reject": lambda w: {"pk": w["referral"].pk},
    "referrals:referral_approve": lambda w: {"pk": w["referral"].pk},
    "rewards:rule_create": lambda w: {"program_pk": w["program"].pk},
    "rewards:reward_detail": lambda w: {"pk": w["reward"].pk},
    "rewards:reward_approve": lambda w: {"pk": w["reward"].pk},
    "rewards:reward_void": lambda w: {"pk": w["reward"].pk},
    "rewards:account_detail": lambda w: {"pk": w["account"].pk},
    "rewards:payout_request": lambda w: {"pk": w["account"].pk},
    "rewards:credit_adjust": lambda w: {"pk": w["account"].pk},
    "rewards:payout_retry": lambda w: {"pk": w["payout"].pk},
    "rewards:payout_mark_paid": lambda w: {"pk": w["payout"].pk},
    "developers:api_key_revoke": lambda w: {"pk": w["api_key"].pk},
    "developers:webhook_detail": lambda w: {"pk": w["endpoint"].pk},
    "developers:webhook_active": lambda w: {"pk": w["endpoint"].pk},
    "developers:webhook_delete": lambda w: {"pk": w["endpoint"].pk},
    "developers:delivery_resend": lambda w: {"pk": w["delivery"].pk},
    "start:sources": lambda w: {"pk": w["program"].pk},
    "start:done": lambda w: {"pk": w["program"].pk},
    "start:links_create": lambda w: {"pk": w["program"].pk},
    "start:test_purchase": lambda w: {"pk": w["referral"].pk},
}


def _walk(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", entry.callback


def dashboard_url_names() -> set[str]:
    return {
        name
        for name, view in _walk()
        if view.__module__.startswith("dashboard.") and name not in BEFORE_AN_ORGANIZATION
    }


def snapshot() -> str:
    """A digest of every row of the project's own tables (users aside: signing in touches
    their last_login), so a test can tell that a request changed nothing at all."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.app_label not in {"accounts", "referrals", "rewards", "analytics", "api"}:
            continue
        if model._meta.model_name == "user":
            continue
        for row in model.objects.order_by("pk").values_list():
            digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture
def world(acme, alice, bob, charlie, program, source, link, fixed_rule):
    from accounts.models import Membership

    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("80.00")
    )
    reward = reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40.00"),
        note="Thanks",
        actor=alice,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    api_key, _secret = api_key_create(
        organization=acme, name="Shop", scopes=["read", "write"], created_by=alice
    )
    endpoint, _signing_secret = webhooks.endpoint_create(
        organization=acme, url="https://hooks.example.com/advocate", events=["referral.created"]
    )
    delivery = webhooks.emit(acme, "referral.created", {"id": referral.pk})[0]
    return {
        "api_key": api_key,
        "endpoint": endpoint,
        "delivery": delivery,
        "membership": Membership.objects.get(user=charlie),
        "invitation": InvitationFactory(organization=acme, invited_by=alice),
        "source_import": CsvImportFactory(organization=acme, kind="sources", created_by=bob),
        "customer_import": CsvImportFactory(organization=acme, kind="customers", created_by=bob),
        "source": source,
        "program": program,
        "link": link,
        "referral": referral,
        "reward": reward,
        "account": source.credit_account,
        "payout": payout,
    }


def _urls(world):
    urls = [reverse(name) for name in sorted(NO_ARGS)]
    urls += [reverse(name, kwargs=args(world)) for name, args in sorted(OBJECT_ARGS.items())]
    return urls


def _writes(url: str) -> bool:
    """Whether the view behind ``url`` asks for more than an analyst's role."""
    from django.urls import resolve

    return resolve(url).func.org_member_role != "analyst"


def test_the_sweep_covers_every_dashboard_url():
    assert dashboard_url_names() == NO_ARGS | set(OBJECT_ARGS)


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_are_sent_to_sign_in_everywhere(client, world, method):
    before = snapshot()
    for url in _urls(world):
        response = getattr(client, method)(url)
        if response.status_code == 405:  # a POST-only action refuses a GET before anything
            continue
        assert response.status_code == 302, (method, url, response.status_code)
        assert response["Location"].startswith("/accounts/login/"), url
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_organization_gets_a_404_for_every_object_and_changes_nothing(
    login, eve, world, method
):
    client = login(eve)
    before = snapshot()
    for name, args in sorted(OBJECT_ARGS.items()):
        url = reverse(name, kwargs=args(world))
        response = getattr(client, method)(url)
        # 405 only where the method is refused before the object is looked up.
        assert response.status_code in (404, 405), (method, url, response.status_code)
    assert snapshot() == before


def test_an_analyst_reads_every_page_but_writes_nowhere(login, charlie, world):
    client = login(charlie)
    before = snapshot()
    writes = [url for url in _urls(world) if _writes(url)]
    assert len(writes) > 25
    for url in _urls(world):
        assert client.get(url).status_code in ((403, 405) if url in writes else (200,)), url
        response = client.post(url, {"amount": "1", "note": "x", "reason": "x", "role": "owner"})
        if url in writes:
            assert response.status_code == 403, (url, response.status_code)
    assert snapshot() == before
