"""``field__any=values``: PostgreSQL's ``field = ANY(%s::type[])``, the values bound as one array.

``field__in=values`` writes one placeholder per value and prepares each value on its own:
for the thousand ids, emails or customers of a bulk of events that cost more than the query
itself (Django resolving and preparing each value, psycopg splitting a query of a thousand
placeholders, PostgreSQL parsing it), and it grows with every value. ``__any`` is one
placeholder whatever the number of values, and PostgreSQL reads ``= ANY(array)`` through a
btree index as it reads ``IN``. The values must already be what the column holds (ints,
strings): they are not prepared through the field. Other databases (bin/dev's SQLite) get a
plain ``IN`` list of the same values. Registered on every field when ``core`` is ready
(``CoreConfig.ready``).
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def process_rhs(self, compiler, connection):
        rhs, params = super().process_rhs(compiler, connection)
        if not params[0]:
            raise EmptyResultSet  # as ``__in=[]``: matches nothing, without a query
        return rhs, params

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor != "postgresql":
            values = rhs_params[0]
            placeholders = ", ".join(["%s"] * len(values))
            return f"{lhs} IN ({placeholders})", [*lhs_params, *values]
        array = f"{self.lhs.output_field.db_type(connection)}[]"
        return f"{lhs} = ANY({rhs}::{array})", [*lhs_params, *rhs_params]


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # related fields keep lookups of their own
