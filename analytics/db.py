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


def code_point_collation(database) -> str | None:
    """The collation that orders text in code-point order, as Python sorts strings, on
    ``database`` (a connection): PostgreSQL's "C"; None where the default does (SQLite). A
    ranking ordered in the database and one ordered in Python then agree on ties, however
    the database collates names."""
    return "C" if database.vendor == "postgresql" else None


def in_code_points(field: str):
    """``field`` (text) to order by in code-point order (``code_point_collation``)."""
    collation = code_point_collation(connections[DB])
    return Collate(field, collation) if collation else F(field)
