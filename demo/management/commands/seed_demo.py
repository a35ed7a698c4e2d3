"""
``manage.py seed_demo``: load Northbank, a demo retail bank, so the dashboard has shape.

The seeder itself is ``demo/seeder.py``, its data ``demo/data.py`` and the way it writes
rows (COPY on PostgreSQL) ``demo/writer.py``.
"""

import sys
import time
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from accounts.models import Customer, Organization, ReferralSource
from demo.data import DEMO_PASSWORD, DEMO_SLUG, MIN_CUSTOMERS, OWNER_EMAIL, SINGLE_TRANSACTION_MAX
from demo.seeder import delete_demo, seed_northbank
from referrals.models import Click, Conversion, Purchase, Referral
from rewards.models import Reward


class Command(BaseCommand):
    help = "Load the Northbank demo organization (a retail bank) with a year of referrals."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--customers",
            type=int,
            default=1000,
            help=f"How many customers to create (default 1000, at least {MIN_CUSTOMERS}).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the demo organization already exists (instead of recreating it).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        parser.add_argument(
            "--quiet", action="store_true", help="Print nothing (implies --no-progress)."
        )

    def handle(self, *args, **options):
        customers = options["customers"]
        if customers < MIN_CUSTOMERS:
            raise CommandError(f"--customers must be at least {MIN_CUSTOMERS}.")
        quiet = options["quiet"] or options["verbosity"] == 0
        existing = Organization.objects.filter(slug=DEMO_SLUG).first()
        if existing is not None and options["if_empty"]:
            if not quiet:
                self.stdout.write(f"The demo organization {DEMO_SLUG} already exists; left as is.")
            return
        started = time.monotonic()
        show_progress = not (quiet or options["no_progress"])
        # Small demos load all or nothing; a million rows in one transaction would hold
        # locks (and, on SQLite, the whole database) for minutes, so big ones commit per chunk.
        one_transaction = customers <= SINGLE_TRANSACTION_MAX
        with transaction.atomic() if one_transaction else nullcontext():
            if existing is not None:
                if not quiet:
                    self.stdout.write(f"Deleting the existing demo organization {DEMO_SLUG}...")
                delete_demo(existing)
            organization = self.seed(options["seed"], customers, show_progress)
        if not quiet:
            self.report(organization, time.monotonic() - started)

    def seed(self, seed: int, customers: int, show_progress: bool) -> Organization:
        with tqdm(
            total=customers,
            unit="customer",
            desc="Seeding Northbank",
            file=sys.stderr,
            disable=not show_progress,
        ) as bar:
            return seed_northbank(seed=seed, customers=customers, progress=bar.update)

    def report(self, organization: Organization, seconds: float) -> None:
        counts = {
            "customers": Customer.objects.for_organization(organization).count(),
            "sources": ReferralSource.objects.for_organization(organization).count(),
            "referrals": Referral.objects.for_organization(organization).count(),
            "clicks": Click.objects.for_organization(organization).count(),
            "purchases": Purchase.objects.for_organization(organization).count(),
            "conversions": Conversion.objects.for_organization(organization).count(),
            "rewards": Reward.objects.for_organization(organization).count(),
        }
        self.stdout.write(f"Loaded the demo organization {organization.name} in {seconds:.1f}s:")
        for name, count in counts.items():
            self.stdout.write(f"  {name:<12} {count:>10,}")
        self.stdout.write(self.style.SUCCESS(f"Sign in as {OWNER_EMAIL} / {DEMO_PASSWORD}"))
