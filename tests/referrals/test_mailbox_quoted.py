"""
The friend's mailbox, in Python (``mailbox``), in PostgreSQL and in SQLite (``Mailbox``),
for an address whose quoted local part holds an "@" (valid: Django's validator takes
``"a+b@c"@example.com``). The three must agree, or the duplicate-friend guard, which
compares the Python mailbox of the new address with the SQL mailbox of the stored ones,
misses the very same address given twice.
"""

import sqlite3

import pytest

from referrals.models import MAILBOX_SQLITE, Mailbox, Referral
from referrals.services.referrals import mailbox
from tests.factories import ReferralSourceFactory
from tests.referrals.test_fraud import lead

QUOTED = ['"a+b@c"@example.com', '"ann@home"+tag@example.com', '"x@y"@example.com']


@pytest.mark.parametrize("address", QUOTED)
def test_postgresql_sqlite_and_python_agree(program, source, address):
    referral = Referral.objects.create(
        organization=program.organization,
        program=program,
        source=source,
        channel="link",
        friend_email=address,
    )
    in_sql = Referral.objects.annotate(box=Mailbox("friend_email")).get(pk=referral.pk).box
    with sqlite3.connect(":memory:") as db:
        sql = MAILBOX_SQLITE % {"expressions": "?"}
        (in_sqlite,) = db.execute(f"SELECT {sql}", [address] * sql.count("?")).fetchone()
    assert in_sql == in_sqlite == mailbox(address)


def test_the_same_quoted_address_twice_is_a_duplicate_friend(program, source, acme):
    lead(program, source, '"a+b@c"@example.com')
    other = ReferralSourceFactory(organization=acme, email="olga@example.com")
    assert lead(program, other, '"a+b@c"@example.com').flag_reasons == ["duplicate_friend"]
