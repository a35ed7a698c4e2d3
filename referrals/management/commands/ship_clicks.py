"""
Load the click journals of this node's web processes into the database, every second.

Run one beside the web server on every node that serves /r/<code> (``runstack`` does for
``bin/dev``; docker-compose runs the ``clicks`` service on the web's journal volume). It
reads only local files, so it is a process of its own rather than a Celery task: a task
runs on whichever worker takes it, often on another machine than the journals. See
``referrals/clicks.py`` and docs/operations.md.
"""

import logging
import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from referrals import clicks

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Load the click journals under CLICK_JOURNAL_DIR into the database, continuously."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="ship what is there and stop")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between passes (default: CLICK_SHIP_INTERVAL)",
        )
        parser.add_argument("--directory", default=None, help="default: CLICK_JOURNAL_DIR")
        parser.add_argument(
            "--nice",
            type=int,
            default=10,
            help="lower this process's CPU priority by this much (0: not), so that on a "
            "busy machine the web workers answer first and the journals absorb the wait",
        )

    def handle(self, *args, once, interval, directory, nice, **options):
        directory = directory or settings.CLICK_JOURNAL_DIR
        if nice:
            os.nice(nice)
        interval = settings.CLICK_SHIP_INTERVAL if interval is None else interval
        if once:
            loaded = clicks.ship(directory)
            self.stdout.write(f"Loaded {loaded} clicks.")
            return
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        self.stdout.write(f"Shipping clicks from {directory} every {interval:g}s.")
        failures = 0
        while not stopping.is_set():
            try:
                clicks.ship(directory)
                failures = 0
            except Exception:  # noqa: BLE001 - the journals keep every click meanwhile
                failures += 1
                log.exception("Could not load clicks (attempt %d); retrying", failures)
                connections.close_all()
            stopping.wait(min(30.0, interval * 2**failures) if failures else interval)
        try:
            clicks.ship(directory)  # what came in while stopping
        except Exception:  # noqa: BLE001 - loaded by the next shipper to start
            log.exception("Could not load the last clicks before stopping")
        self.stdout.write("Click shipper stopped.")
