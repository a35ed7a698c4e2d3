"""
Trigram indexes for the customer and source searches (PostgreSQL only).

The dashboard's search boxes filter with ``icontains`` (``UPPER(col) LIKE UPPER('%q%')``),
which no b-tree can answer: at a million customers every search read the whole table
(1.3 s). A GIN index of ``UPPER(col)`` with pg_trgm's operator class answers such a LIKE
from the trigrams of the query. pg_trgm ships with PostgreSQL and is a trusted extension
(the database owner may create it). SQLite (``bin/dev``) has no such index and needs none.
"""

from django.db import migrations

INDEXES = [
    ("accounts_customer", "name", "customer_name_trgm"),
    ("accounts_customer", "email", "customer_email_trgm"),
    ("accounts_customer", "external_id", "customer_external_id_trgm"),
    ("accounts_referralsource", "name", "source_name_trgm"),
    ("accounts_referralsource", "email", "source_email_trgm"),
    ("accounts_referralsource", "company", "source_company_trgm"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, name in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, _column, name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("accounts", "0011_dashboard_list_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
