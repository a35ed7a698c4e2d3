"""
One factory per model, with factory_boy: tests name only what matters to them.

Rows whose invariants live in a service are built through that service (programs, links,
rules, credit grants), so a factory can never make a state the product cannot reach.
"""

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import (
    CsvImport,
    Customer,
    InsiderContribution,
    Invitation,
    Membership,
    Organization,
    ReferralSource,
    Role,
    SourceKind,
    User,
)

PASSWORD = "correct-horse-battery"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    currency = "EUR"
    timezone = "Europe/Amsterdam"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password", PASSWORD)
        return model_class.objects.create_user(*args, password=password, **kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.MANAGER


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.MANAGER
    invited_by = factory.LazyAttribute(
        lambda o: MembershipFactory(organization=o.organization, role=Role.OWNER).user
    )


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Sequence(lambda n: f"Customer {n}")


class ReferralSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferralSource

    organization = factory.SubFactory(OrganizationFactory)
    kind = SourceKind.CUSTOMER
    name = factory.Sequence(lambda n: f"Source {n}")


class InsiderContributionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InsiderContribution

    source = factory.SubFactory(ReferralSourceFactory)
    organization = factory.SelfAttribute("source.organization")
    occurred_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=7))
    note = "Told us about a competitor's new rates"
    value = Decimal("50.00")
    currency = factory.SelfAttribute("organization.currency")


class CsvImportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CsvImport

    organization = factory.SubFactory(OrganizationFactory)
    kind = CsvImport.Kind.CUSTOMERS
    content = "email,name\nann@example.com,Ann\n"


class ProgramFactory(factory.Factory):
    """A program, made by ``referrals.services.program_create``."""

    class Meta:
        model = dict

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Program {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from referrals.services import program_create

        return program_create(**kwargs)

    _build = _create


class ReferralLinkFactory(factory.Factory):
    """A source's link to a program, made by ``referrals.services.link_get_or_create``."""

    class Meta:
        model = dict

    program = factory.SubFactory(ProgramFactory)
    source = factory.SubFactory(
        ReferralSourceFactory, organization=factory.SelfAttribute("..program.organization")
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from referrals.services import link_get_or_create

        return link_get_or_create(**kwargs)

    _build = _create


class RewardRuleFactory(factory.Factory):
    """A reward rule, made by ``rewards.services.rule_create``: the referrer earns 25.00."""

    class Meta:
        model = dict

    program = factory.SubFactory(ProgramFactory)
    beneficiary = "referrer"
    trigger = "first_purchase"
    formula = "fixed"
    amount = Decimal("25.00")
    reward_kind = "credit"
    credit_lifetime_days = 365

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from rewards.services import rule_create

        return rule_create(**kwargs)

    _build = _create
