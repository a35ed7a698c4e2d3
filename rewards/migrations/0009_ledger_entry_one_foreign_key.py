"""A ledger entry's three foreign keys become one: (lot, account, organization) refers to
the lot's own (id, account, organization). One check per new entry instead of three, and it
also holds that an entry's account and organization are its lot's. See LedgerEntry."""

import django.db.models.deletion
from django.db import migrations, models

ADD = """
ALTER TABLE rewards_ledgerentry ADD CONSTRAINT ledger_entry_lot_account_organization_fk
    FOREIGN KEY (lot_id, account_id, organization_id)
    REFERENCES rewards_creditlot (id, account_id, organization_id)
    DEFERRABLE INITIALLY DEFERRED
"""
DROP = "ALTER TABLE rewards_ledgerentry DROP CONSTRAINT ledger_entry_lot_account_organization_fk"


def add_foreign_key(apps, schema_editor):
    # SQLite (the embedded development setup) cannot add a constraint to a table.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ADD)


def drop_foreign_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0012_search_trigram_indexes"),
        ("rewards", "0008_dashboard_list_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="creditlot",
            constraint=models.UniqueConstraint(
                fields=("id", "account", "organization"), name="lot_id_account_organization"
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="rewards.creditaccount",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="lot",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="rewards.creditlot",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organization",
            ),
        ),
        migrations.RunPython(add_foreign_key, drop_foreign_key),
    ]
