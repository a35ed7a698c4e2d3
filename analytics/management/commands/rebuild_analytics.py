"""manage.py rebuild_analytics [--organization SLUG]: build every day's rollups again."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import Organization
from analytics import rollups


class Command(BaseCommand):
    help = "Build the daily analytics rollups again, from each organization's first event."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="only this organization (its slug)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        organizations = Organization.objects.order_by("pk")
        if options["organization"]:
            organizations = organizations.filter(slug=options["organization"])
            if not organizations.exists():
                raise CommandError(f"No organization {options['organization']!r}.")
        plan = [(org, rollups.months_to_build(org)) for org in organizations]
        with tqdm(
            total=sum(months for _, months in plan),
            unit="month",
            disable=options["no_progress"],
            file=self.stderr,
        ) as bar:
            for organization, _ in plan:
                bar.set_description(organization.slug)
                rollups.rebuild(organization=organization, progress=bar.update)
        self.stdout.write(f"Rebuilt the analytics rollups of {len(plan)} organization(s).")
