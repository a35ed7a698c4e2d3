"""
Benchmark: how fast ``rewards.services.expire_credit_lots()`` expires credit lots.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):

    .venv/bin/python bench/bench_expire_lots.py                    # 1,000,000 lots
    .venv/bin/python bench/bench_expire_lots.py --lots 200000 --batch-size 5000 --keep

It creates a scratch database (``advocate_bench_expiry``, dropped and recreated; pass
``--database`` for another name), migrates it, and seeds ``--lots`` lots past their
expiry date (plus 10 % that have not expired yet, which must be left alone) spread over
``--accounts`` customer accounts, each lot with its grant entry in the ledger. Seeding is
set-based (``INSERT ... SELECT generate_series``), so it takes seconds. Then it times one
call of ``expire_credit_lots()``, checks the result (every due lot closed, one ``expire``
entry each, the ledger still summing to the lots) and prints lots per second. The database
is dropped at the end unless ``--keep`` is given. Not part of the test suite.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, help="default: the service's own")
    parser.add_argument("--database", default="advocate_bench_expiry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    server = f"host={args.host} port=5432 user={args.user}"
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')

    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{args.database}"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def run(args) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum
    from django.utils import timezone

    from accounts.models import Customer, Organization
    from rewards.models import CreditAccount, CreditLot, LedgerEntry
    from rewards.services import expire_credit_lots

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench Bank", slug="bench", currency="EUR")
    customers = Customer.objects.bulk_create(
        [
            Customer(organization=organization, email=f"c{i}@bench.example", name=f"C {i}")
            for i in range(args.accounts)
        ],
        batch_size=5000,
    )
    CreditAccount.objects.bulk_create(
        [CreditAccount(organization=organization, customer=c, currency="EUR") for c in customers],
        batch_size=5000,
    )
    now = timezone.now()
    due, not_due = args.lots, args.lots // 10
    lot, entry = CreditLot._meta.db_table, LedgerEntry._meta.db_table
    account = CreditAccount._meta.db_table
    with connection.cursor() as cursor:
        # Lots spread round-robin over the accounts; the first ``due`` are past their date,
        # oldest first, as lots granted over time with one credit lifetime expire.
        cursor.execute(
            f"""
            WITH accounts AS (
                SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM {account}
            )
            INSERT INTO {lot}
                (organization_id, account_id, amount, remaining, granted_at, expires_at)
            SELECT %(org)s, a.id, 25.00, (10 + g %% 15)::numeric(12, 2),
                   %(now)s - interval '400 days',
                   CASE WHEN g <= %(due)s
                        THEN %(now)s - interval '1 second' * (1 + %(due)s - g)
                        ELSE %(now)s + interval '30 days' END
            FROM generate_series(1, %(total)s) AS g
            JOIN accounts a ON a.n = g %% %(accounts)s
            """,  # noqa: S608 - our own table names
            {
                "org": organization.pk,
                "now": now,
                "due": due,
                "total": due + not_due,
                "accounts": args.accounts,
            },
        )
        # Each lot's history so far: granted 25.00, of which part was spent.
        cursor.execute(
            f"""
            INSERT INTO {entry}
                (organization_id, account_id, lot_id, kind, amount, idempotency_key,
                 reference, at)
            SELECT organization_id, account_id, id, 'grant', amount, 'bench:' || id, '',
                   granted_at
            FROM {lot}
            UNION ALL
            SELECT organization_id, account_id, id, 'redeem', remaining - amount,
                   'bench-redeem:' || id, '', granted_at + interval '1 day'
            FROM {lot}
            """  # noqa: S608
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {lot}; ANALYZE {entry}; ANALYZE {account}")
    seeded = time.perf_counter() - started
    print(f"seeded {due:,} due lots (+{not_due:,} not due) in {seeded:.1f}s")

    started = time.perf_counter()
    options = {"batch_size": args.batch_size} if args.batch_size else {}
    expired = expire_credit_lots(now=now, **options)
    elapsed = time.perf_counter() - started

    assert expired == due, (expired, due)
    assert LedgerEntry.objects.filter(kind="expire").count() == due
    assert CreditLot.objects.filter(expired_at__isnull=True, remaining__gt=0).count() == not_due
    ledger = LedgerEntry.objects.aggregate(total=Sum("amount"))["total"]
    lots_left = CreditLot.objects.aggregate(total=Sum("remaining"))["total"]
    assert ledger == lots_left, (ledger, lots_left)
    print(
        f"expired {expired:,} lots in {elapsed:.2f}s (batch size: {args.batch_size or 'default'}): "
        f"{expired / elapsed:,.0f} lots/s"
    )


if __name__ == "__main__":
    main()
