"""The database analytics reads from.

Every analytics selector reads through the ``analytics`` alias (``.using(DB)``): the same
database as ``default`` unless ``ANALYTICS_DATABASE_URL`` names a PostgreSQL streaming
replica, so reporting load can move off the primary without touching a selector. Analytics
never writes, so a replica a few seconds behind only shows numbers a few seconds old.
"""

from django.db import connections

DB = "analytics"


def cursor():
    """A cursor on the analytics database, for the few reads the ORM cannot say."""
    return connections[DB].cursor()
