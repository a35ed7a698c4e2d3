"""The factories make rows the product itself could have made: valid, and in one tenant."""

import pytest

from tests import factories

MODEL_FACTORIES = [
    factories.OrganizationFactory,
    factories.MembershipFactory,
    factories.InvitationFactory,
    factories.CustomerFactory,
    factories.ReferralSourceFactory,
    factories.InsiderContributionFactory,
    factories.CsvImportFactory,
]


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", MODEL_FACTORIES, ids=lambda f: f.__name__)
def test_each_factory_makes_a_valid_row(factory_class):
    row = factory_class()
    row.full_clean()
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_a_link_belongs_to_its_programs_organization():
    link = factories.ReferralLinkFactory()
    assert link.source.organization_id == link.program.organization_id == link.organization_id


@pytest.mark.django_db
def test_a_rule_is_made_by_the_service_in_the_organizations_currency():
    program = factories.ProgramFactory(organization=factories.OrganizationFactory(currency="GBP"))
    rule = factories.RewardRuleFactory(program=program)
    assert rule.currency == "GBP" and rule.program == program
