"""Signing up a business: its organization gets a slug of its own even when another
business of the same name signs up at the same moment."""

import pytest

from accounts import services
from accounts.models import Membership, Organization

pytestmark = pytest.mark.django_db


def test_two_businesses_of_one_name_get_two_slugs(django_user_model):
    first = django_user_model.objects.create_user(email="a@example.com", password="x")
    second = django_user_model.objects.create_user(email="b@example.com", password="x")
    a = services.organization_create(
        owner=first, name="Corner Bakery", currency="EUR", timezone_name="Europe/Dublin"
    )
    b = services.organization_create(
        owner=second, name="Corner Bakery", currency="EUR", timezone_name="Europe/Dublin"
    )
    assert (a.slug, b.slug) == ("corner-bakery", "corner-bakery-2")


def test_the_sign_up_that_loses_the_race_for_a_slug_takes_the_next(django_user_model, monkeypatch):
    """The other sign-up commits "corner-bakery" after this one found it free: this one's
    insert fails on the unique slug, and it takes the next free slug instead of a 500."""
    owner = django_user_model.objects.create_user(email="a@example.com", password="x")
    real = services._unique_slug
    calls = []

    def slug_then_lose_the_race(name):
        slug = real(name)
        if not calls:
            Organization.objects.create(name="Corner Bakery", slug=slug, currency="EUR")
        calls.append(slug)
        return slug

    monkeypatch.setattr(services, "_unique_slug", slug_then_lose_the_race)
    organization = services.organization_create(
        owner=owner, name="Corner Bakery", currency="EUR", timezone_name="Europe/Dublin"
    )
    assert calls == ["corner-bakery", "corner-bakery-2"]
    assert organization.slug == "corner-bakery-2"
    assert Membership.objects.get(organization=organization).user == owner
    assert Organization.objects.filter(name="Corner Bakery").count() == 2
