"""
Expiry reminders: the holder is emailed 7 days and 1 day before a lot expires, once each,
never twice, with amounts in the organization's currency and dates in its time zone.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core import mail
from django.utils import timezone

from rewards.models import CreditReminder
from rewards.services import credit_redeem, send_expiry_reminders


def test_it_reminds_the_holder_seven_days_before_a_lot_expires(account, grant):
    lot = grant("30.00", days=6)
    assert send_expiry_reminders() == 1
    [email] = mail.outbox
    assert email.to == ["sam@example.com"]
    assert email.subject.startswith("€30.00 of your Acme Bank credit expires on ")
    reminder = CreditReminder.objects.get(lot=lot)
    assert reminder.days_before == 7 and reminder.sent_at is not None


def test_it_reminds_once_per_window_however_often_it_runs(account, grant):
    grant("30.00", days=6)
    send_expiry_reminders()
    assert send_expiry_reminders() == 0
    assert send_expiry_reminders() == 0
    assert len(mail.outbox) == 1


def test_it_reminds_again_one_day_before(account, grant):
    grant("30.00", days=6)
    send_expiry_reminders()
    assert send_expiry_reminders(now=timezone.now() + timedelta(days=5, hours=1)) == 1
    assert send_expiry_reminders(now=timezone.now() + timedelta(days=5, hours=2)) == 0
    assert sorted(CreditReminder.objects.values_list("days_before", flat=True)) == [1, 7]
    assert len(mail.outbox) == 2


def test_a_lot_granted_close_to_its_expiry_gets_only_the_last_reminder(account, grant):
    grant("30.00", days=0.5)
    send_expiry_reminders()
    assert list(CreditReminder.objects.values_list("days_before", flat=True)) == [1]


def test_it_does_not_remind_too_early(account, grant):
    grant("30.00", days=8)
    assert send_expiry_reminders() == 0
    assert mail.outbox == []


def test_a_reminder_already_claimed_is_never_sent_again(account, grant):
    """A duplicate task that finds the claim (even without the email sent) sends nothing."""
    lot = grant("30.00", days=6)
    CreditReminder.objects.create(organization_id=lot.organization_id, lot=lot, days_before=7)
    assert send_expiry_reminders() == 0
    assert mail.outbox == []


def test_it_does_not_remind_about_spent_credit(account, grant):
    grant("30.00", days=6)
    credit_redeem(account=account, amount=Decimal("30.00"), order_id="o-1")
    assert send_expiry_reminders() == 0


def test_one_email_lists_every_lot_expiring_for_the_holder(account, grant):
    grant("30.00", days=3)
    grant("12.50", days=5)
    assert send_expiry_reminders() == 1
    body = mail.outbox[0].body
    assert "- €30.00, expires" in body and "- €12.50, expires" in body
    assert mail.outbox[0].subject.startswith("€42.50 of your")


def test_dates_are_in_the_organizations_time_zone(account, grant):
    # 22:30 UTC on 10 March is 23:30 on 10 March in Amsterdam (and 11 March in Tokyo).
    lot = grant("30.00", days=6)
    expires = datetime(2031, 3, 10, 22, 30, tzinfo=ZoneInfo("UTC"))
    type(lot).objects.filter(pk=lot.pk).update(expires_at=expires)
    send_expiry_reminders(now=expires - timedelta(days=3))
    body = mail.outbox[0].body
    assert "expires 10 March 2031, 23:30" in body
    assert "Times are in Europe/Amsterdam." in body


def test_a_holder_without_email_is_skipped(acme, grant, source):
    source.email = ""
    source.save()
    grant("30.00", days=6)
    assert send_expiry_reminders() == 0
    assert not CreditReminder.objects.exists()
