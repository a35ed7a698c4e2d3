"""The refreshes find what changed since their last run through indexes, not by reading
every referral event of every organization: each refresh runs per organization, every few
minutes, and the events table grows with every referral ever made."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from analytics import facts, rollups
from analytics.models import FactState, RollupState

EVENTS = "referrals_referralevent"


@pytest.fixture
def many_events(acme, globex, program, source):
    """Thousands of referrals with their events in two organizations over a year."""
    now = timezone.now()
    with connection.cursor() as cursor:
        for org in (acme.pk, globex.pk):
            cursor.execute(
                "INSERT INTO referrals_referral (organization_id, program_id, source_id, "
                "friend_email, friend_name, friend_phone, channel, status, rejection_reason, "
                "flagged, flag_reasons, ip_hash, user_agent, created_at) "
                "SELECT %s, %s, %s, 'f' || g || '@example.com', '', '', 'link', 'lead', '', "
                "false, '[]', '', '', %s - interval '1 hour' * g "
                "FROM generate_series(1, 8000) g",
                [org, program.pk, source.pk, now],
            )
        cursor.execute(
            f"INSERT INTO {EVENTS} (organization_id, referral_id, from_status, to_status, "  # noqa: S608
            "actor_label, note, at) SELECT organization_id, id, '', 'lead', 'link', '', "
            "created_at FROM referrals_referral UNION ALL SELECT organization_id, id, 'lead', "
            "'signed_up', 'x', '', created_at + interval '1 day' FROM referrals_referral"
        )
        # Every friend a customer; a third of them bought, through their referral.
        cursor.execute(
            "INSERT INTO accounts_customer (organization_id, external_id, email, name, phone, "
            "first_seen_at, is_referred, status) SELECT organization_id, 'r' || id, "
            "friend_email, '', '', created_at, true, 'active' FROM referrals_referral"
        )
        cursor.execute(
            "UPDATE referrals_referral r SET friend_id = c.id FROM accounts_customer c "
            "WHERE c.organization_id = r.organization_id AND c.external_id = 'r' || r.id"
        )
        cursor.execute(
            "INSERT INTO referrals_purchase (organization_id, customer_id, kind, external_id, "
            "amount, currency, occurred_at, created_at) SELECT organization_id, friend_id, "
            "'purchase', 'o' || id, 50, 'EUR', created_at + interval '2 days', "
            "created_at + interval '2 days' FROM referrals_referral WHERE id % 3 = 0"
        )
        cursor.execute(
            "INSERT INTO referrals_conversion (organization_id, referral_id, source_id, "
            "customer_id, purchase_id, kind, external_id, is_first_purchase, occurred_at, "
            "created_at) SELECT r.organization_id, r.id, r.source_id, r.friend_id, p.id, "
            "'purchase', p.external_id, true, p.occurred_at, p.created_at "
            "FROM referrals_referral r JOIN referrals_purchase p "
            "ON p.organization_id = r.organization_id AND p.external_id = 'o' || r.id"
        )
        cursor.execute(
            "ANALYZE accounts_customer, referrals_referral, referrals_purchase, "
            f"referrals_conversion, {EVENTS}"
        )
    return now


def plans_of_event_reads(run) -> list[str]:
    """The plans PostgreSQL chose for every statement ``run`` made that reads the events."""
    plans = []

    def explain(execute, sql, params, many, context):
        if EVENTS in sql and not many:
            cursor = context["cursor"].cursor  # the driver's own: no wrapper runs again
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        run()
    assert plans, "no statement read the referral events"
    return plans


def test_the_customer_facts_refresh_reads_recent_events_by_index(acme, many_events):
    state = FactState(organization=acme, recorded_through=many_events - timedelta(minutes=10))
    plans = plans_of_event_reads(lambda: facts.changed_customers(acme, state))
    assert not [plan for plan in plans if f"Seq Scan on {EVENTS}" in plan], plans
    assert any("referralevent_org_at" in plan for plan in plans), plans


def test_the_rollups_refresh_reads_recent_events_by_index(acme, many_events):
    state = RollupState(
        organization=acme,
        built_through=date.today(),
        built_until=many_events - timedelta(minutes=10),
    )
    plans = plans_of_event_reads(lambda: rollups._changed_referral_days(acme, state))
    assert not [plan for plan in plans if f"Seq Scan on {EVENTS}" in plan], plans
    assert any("referralevent_org_at" in plan for plan in plans), plans
