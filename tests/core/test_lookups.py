"""``field__any=values`` (core/lookups.py) finds exactly the rows ``field__in=values`` does."""

import pytest
from django.db.models.functions import Upper

from accounts.models import Customer
from tests.factories import CustomerFactory, OrganizationFactory


@pytest.mark.django_db
def test_any_finds_what_in_finds_for_ids_text_relations_and_expressions(
    django_assert_num_queries,
):
    org, other = OrganizationFactory(), OrganizationFactory()
    ann = CustomerFactory(organization=org, email="Ann@X.test", external_id="a-1")
    bob = CustomerFactory(organization=org, email="bob@x.test", external_id="b-1")
    CustomerFactory(organization=other, email="ann@x.test", external_id="a-1")
    mine = Customer.objects.filter(organization=org)

    def both(**lookup):
        ((name, values),) = lookup.items()
        found = set(mine.filter(**{f"{name}__any": values}))
        assert found == set(mine.filter(**{f"{name}__in": values}))
        return found

    assert both(pk=[ann.pk, bob.pk, 10**9]) == {ann, bob}
    assert both(external_id={"a-1", "nobody"}) == {ann}
    assert both(organization_id=[org.pk]) == {ann, bob}
    assert both(organization=[org.pk]) == {ann, bob}
    with django_assert_num_queries(0):
        assert both(external_id=[]) == set()
    upper = mine.annotate(_email=Upper("email"))
    assert set(upper.filter(_email__any=["ANN@X.TEST"])) == {ann}
    assert "= ANY(" in str(mine.filter(pk__any=[1]).query)


def test_any_is_a_plain_in_list_on_other_databases():
    """bin/dev runs on SQLite, which has no arrays: the same lookup, an IN list there."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    sqlite = DatabaseWrapper({**_SQLITE, "NAME": ":memory:"}, alias="sqlite-any")
    try:
        query = Customer.objects.filter(external_id__any=["a-1", "b-1"]).query
        sql, params = query.get_compiler(connection=sqlite).as_sql()
        assert '"external_id" IN (%s, %s)' in sql and "ANY(" not in sql
        assert list(params) == ["a-1", "b-1"]
    finally:
        sqlite.close()


_SQLITE = {
    "ENGINE": "django.db.backends.sqlite3",
    "ATOMIC_REQUESTS": False,
    "AUTOCOMMIT": True,
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": False,
    "OPTIONS": {},
    "TIME_ZONE": None,
    "USER": "",
    "PASSWORD": "",
    "HOST": "",
    "PORT": "",
    "TEST": {},
}
