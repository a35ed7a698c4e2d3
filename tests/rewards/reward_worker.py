"""
Loaded into the Celery worker subprocesses of ``test_reward_worker_killed.py``
(``celery -A config worker -I tests.rewards.reward_worker``); never imported by pytest.

- With ``ADVOCATE_TEST_PAUSE_AFTER=n`` and ``ADVOCATE_TEST_PAUSE_FILE``, the worker stops
  inside the n-th reward's issuance, after the reward, its credit and its email are written
  but before they commit: the moment the test kills it.
- Every reward email really sent is logged to ``ADVOCATE_TEST_SENT_LOG`` as
  ``<reward id> <address>`` (the worker's locmem outbox is out of the test's reach).
- Unacknowledged messages are kept under keys of this test's own queue, and Redis gives a
  dead worker's message back only after an hour (its default): the reward of a killed
  worker comes back through the outbox, not through Redis.
"""

import os
import time
from pathlib import Path

from config.celery import app
from rewards import notifications
from rewards.services import lifecycle

QUEUE = os.environ["ADVOCATE_TEST_QUEUE"]
PAUSE_AFTER = int(os.environ.get("ADVOCATE_TEST_PAUSE_AFTER", "0"))
PAUSE_FILE = os.environ.get("ADVOCATE_TEST_PAUSE_FILE", "")
SENT_LOG = os.environ["ADVOCATE_TEST_SENT_LOG"]

app.conf.broker_transport_options = {
    "visibility_timeout": 3600,
    "unacked_key": f"{QUEUE}.unacked",
    "unacked_index_key": f"{QUEUE}.unacked_index",
    "unacked_mutex_key": f"{QUEUE}.unacked_mutex",
}

_approved = 0
_approve = lifecycle.reward_approve


def reward_approve(**kwargs):
    global _approved
    reward = _approve(**kwargs)
    _approved += 1
    if PAUSE_AFTER and _approved == PAUSE_AFTER:
        Path(PAUSE_FILE).write_text(f"{os.getpid()} {reward.conversion_id}")
        time.sleep(600)  # killed here, inside the reward's transaction
    return reward


lifecycle.reward_approve = reward_approve

_current = {"reward_id": None}
_send_reward_earned = notifications.send_reward_earned
_send = notifications._send


def send_reward_earned(*, reward_id):
    _current["reward_id"] = reward_id
    return _send_reward_earned(reward_id=reward_id)


def send(to, *message):
    _send(to, *message)
    with open(SENT_LOG, "a") as log:
        log.write(f"{_current['reward_id']} {to}\n")


notifications.send_reward_earned = send_reward_earned
notifications._send = send
