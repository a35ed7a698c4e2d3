"""manage.py rebuild_analytics [--organization SLUG]: build every day's rollups and every
customer's facts again."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import Organization
from analytics import facts, rollups


class Command(BaseCommand):
    help = (
        "Build the daily analytics rollups again, from each organization's first event, "
        "and the customer facts and cohort rollups."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="only this organization (its slug)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        organizations = Organization.objects.order_by("pk")
        if options["organization"]:
            organizations = organizations.filter(slug=options["organization"])
            if not organizations.exists():
                raise CommandError(f"No organization {options['organization']!r}.")
        # One step per month of daily rollups, and one for the organization's customer facts.
        plan = [(org, rollups.months_to_build(org) + 1) for org in organizations]
        with tqdm(
            total=sum(steps for _, steps in plan),
            unit="step",
            disable=options["no_progress"],
            file=self.stderr,
        ) as bar:
            for organization, _ in plan:
                bar.set_description(organization.slug)
                rollups.rebuild(organization=organization, progress=bar.update)
                facts.rebuild(organization=organization)
                bar.update(1)
        # Every fact row was written again: the old ones are dead until vacuumed.
        rollups.vacuum(analyze=True, also=facts.FACT_MODELS)
        self.stdout.write(f"Rebuilt the analytics rollups of {len(plan)} organization(s).")
