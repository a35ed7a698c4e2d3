"""
Loaded into the Celery worker subprocesses of ``test_payout_worker_killed.py``
(``celery -A config worker -I tests.rewards.payout_worker``); never imported by pytest.

It replaces the gift-card provider with one that behaves exactly like the real one, but
also logs every email it really sends to ``ADVOCATE_TEST_SENT_LOG`` (the worker's locmem
outbox is out of the test's reach) and, when ``ADVOCATE_TEST_PAUSE_FILE`` is set, stops
right after a send, with the payout not yet recorded as paid: the moment the test kills
the worker.

It also lets the broker give a dead worker's message to another worker after a few
seconds instead of an hour, keeping unacknowledged messages under keys of this test's
own queue, so this worker never takes back another test run's messages.
"""

import os
import time
from pathlib import Path

from config.celery import app
from rewards import providers as payouts

QUEUE = os.environ["ADVOCATE_TEST_QUEUE"]
PAUSE_FILE = os.environ.get("ADVOCATE_TEST_PAUSE_FILE", "")
SENT_LOG = os.environ["ADVOCATE_TEST_SENT_LOG"]

app.conf.broker_transport_options = {
    "visibility_timeout": int(os.environ.get("ADVOCATE_TEST_VISIBILITY_TIMEOUT", "3600")),
    "unacked_key": f"{QUEUE}.unacked",
    "unacked_index_key": f"{QUEUE}.unacked_index",
    "unacked_mutex_key": f"{QUEUE}.unacked_mutex",
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


class LoggedGiftCardProvider(payouts.EmailGiftCardProvider):
    def send(self, card, code, payout):
        super().send(card, code, payout)
        with open(SENT_LOG, "a") as log:
            log.write(f"{payout.pk} {code}\n")

    def pay(self, payout):
        result = super().pay(payout)
        if PAUSE_FILE:
            Path(PAUSE_FILE).write_text(str(os.getpid()))
            time.sleep(600)  # killed here
        return result


payouts.register(LoggedGiftCardProvider())
