"""
Payouts: their status, failures surfaced with a retry, manual bank transfers marked paid,
a batch for every source owed, and the bank-transfer CSV for finance.
"""

import csv
import io
from decimal import Decimal

import pytest

from rewards.models import Payout
from rewards.services import payout_process, payout_request, reward_grant_manual
from tests.factories import ReferralSourceFactory
from tests.helpers import wait_for


@pytest.fixture
def payout(acme, alice, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    return payout_request(source=source, method="bank_transfer")


def test_it_lists_payouts_with_their_status(login, charlie, payout):
    html = login(charlie).get("/app/payouts/").content.decode()
    assert "€40.00" in html and 'badge requested">Requested' in html


def test_a_failed_payout_shows_its_error_and_can_be_retried(login, bob, payout):
    Payout.objects.filter(pk=payout.pk).update(
        status="failed", attempts=5, last_error="TimeoutError: bank did not answer"
    )
    client = login(bob)
    html = client.get("/app/payouts/?status=failed").content.decode()
    assert "Attempt 5: TimeoutError: bank did not answer" in html
    assert "Retry</button>" in html
    assert client.post(f"/app/payouts/{payout.pk}/retry/").status_code == 302
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("requested", 0)


def test_a_bank_transfer_is_marked_paid_by_staff(login, bob, payout):
    payout_process(payout_id=payout.pk)
    client = login(bob)
    assert "Mark paid</button>" in client.get("/app/payouts/").content.decode()
    response = client.post(f"/app/payouts/{payout.pk}/paid/", {"reference": "SEPA-77"})
    assert response.status_code == 302
    payout.refresh_from_db()
    assert (payout.status, payout.provider_reference) == ("paid", "SEPA-77")
    assert payout.rewards.get().status == "fulfilled"


def test_marking_a_payout_not_handed_over_paid_is_refused(login, bob, payout):
    login(bob).post(f"/app/payouts/{payout.pk}/paid/")
    assert Payout.objects.get(pk=payout.pk).status == "requested"


def test_finance_downloads_the_bank_transfers_as_csv(login, charlie, payout):
    payout_process(payout_id=payout.pk)
    response = login(charlie).get("/app/payouts/bank-transfers.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="bank-transfers-acme-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) == 2 and rows[1][2:7] == ["Sam Source", "", "sam@example.com", "40.00", "EUR"]


def test_the_csv_holds_only_the_organizations_own_transfers(login, eve, payout):
    payout_process(payout_id=payout.pk)
    rows = list(
        csv.reader(io.StringIO(login(eve).get("/app/payouts/bank-transfers.csv").content.decode()))
    )
    assert len(rows) == 1  # the header alone


def test_an_analyst_can_read_but_not_act(login, charlie, payout):
    client = login(charlie)
    html = client.get("/app/payouts/").content.decode()
    assert "Preview the payout batch" not in html
    assert client.post("/app/payouts/batch/").status_code == 403
    assert client.post(f"/app/payouts/{payout.pk}/retry/").status_code == 403
    assert client.post(f"/app/payouts/{payout.pk}/paid/").status_code == 403


def test_another_organization_cannot_touch_a_payout(login, eve, payout):
    client = login(eve)
    assert "€40.00" not in client.get("/app/payouts/").content.decode()
    assert client.post(f"/app/payouts/{payout.pk}/retry/").status_code == 404
    assert client.post(f"/app/payouts/{payout.pk}/paid/").status_code == 404


@pytest.mark.parametrize("count", [2, 30])
def test_the_list_costs_the_same_few_queries_for_any_number_of_payouts(
    login, bob, acme, alice, count, django_assert_max_num_queries
):
    for i in range(count):
        source = ReferralSourceFactory(organization=acme, name=f"S{i}", kind="agent")
        reward_grant_manual(
            organization=acme,
            source=source,
            amount=Decimal("5"),
            note="x",
            actor=alice,
            reward_kind="cash",
        )
        payout_request(source=source, method="bank_transfer")
    client = login(bob)
    with django_assert_max_num_queries(12):
        assert client.get("/app/payouts/").status_code == 200


@pytest.mark.worker
def test_staff_start_a_batch_for_every_source_owed(celery_worker, login, bob, acme, alice, source):
    other = ReferralSourceFactory(organization=acme, name="Olga", kind="agent")
    for holder in (source, other):
        reward_grant_manual(
            organization=acme,
            source=holder,
            amount=Decimal("20"),
            note="x",
            actor=alice,
            reward_kind="cash",
        )
    client = login(bob)
    preview = client.get("/app/payouts/batch/", {"method": "bank_transfer"})
    fingerprint = preview.context["preview"].fingerprint
    response = client.post(
        "/app/payouts/batch/", {"method": "bank_transfer", "fingerprint": fingerprint}
    )
    assert response.status_code == 302
    wait_for(lambda: Payout.objects.filter(status="processing").count() == 2)
    assert sorted(Payout.objects.values_list("source__name", flat=True)) == ["Olga", "Sam Source"]


def test_the_total_of_all_payouts_leaves_out_the_failed_ones(login, charlie, acme, alice, payout):
    """A failed payout paid nothing (a retry pays it under the same row): "in all" is what the
    payouts pay, the failed amount said beside it and alone on the failed tab."""
    other = ReferralSourceFactory(organization=acme, name="Olga")
    reward_grant_manual(
        organization=acme,
        source=other,
        amount=Decimal("15"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    failed = payout_request(source=other, method="bank_transfer")
    Payout.objects.filter(pk=failed.pk).update(status="failed", attempts=5, last_error="x")
    client = login(charlie)
    everything = client.get("/app/payouts/")
    totals = everything.context["totals"]
    assert (totals.count, totals.amount, totals.failed) == (2, Decimal("40.00"), Decimal("15.00"))
    assert "2 payouts, €40.00 in all (€15.00 failed, not paid)." in everything.content.decode()
    html = client.get("/app/payouts/", {"status": "failed"}).content.decode()
    assert "1 payout failed, €15.00 not paid." in html
    html = client.get("/app/payouts/", {"status": "requested"}).content.decode()
    assert "1 payout requested, €40.00 in all." in html
