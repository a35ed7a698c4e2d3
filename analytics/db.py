"""The database analytics reads from.

Every analytics selector reads through the ``analytics`` alias (``.using(DB)``): the same
database as ``default`` unless ``ANALYTICS_DATABASE_URL`` names a PostgreSQL streaming
replica, so reporting load can move off the primary without touching a selector. Analytics
never writes, so a replica a few seconds behind only shows numbers a few seconds old.
"""

from django.db import connections
from django.db.models import F
from django.db.models.functions import Collate

DB = "analytics"


def cursor():
    """A cursor on the analytics database, for the few reads the ORM cannot say."""
    return connections[DB].cursor()


def in_code_points(field: str):
    """``field`` (text) to order by in code-point order, as Python sorts strings: PostgreSQL's
    "C" collation, SQLite's default. A ranking ordered in the database and one ordered in
    Python then agree on ties, however the database collates names."""
    if connections[DB].vendor == "postgresql":
        return Collate(field, "C")
    return F(field)
