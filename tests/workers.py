"""
Real processes for the tests of outages: a redis-server of the test's own, Celery apps that
publish to a given broker and queue, and ``celery worker`` subprocesses on them.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from celery import Celery
from django.conf import settings
from django.db import connection

from tests.helpers import wait_for

BASE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port, without persistence: a crash loses everything."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.tmp_path = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.tmp_path / f"redis-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            cwd=self.tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=20)

    def crash(self) -> None:
        """SIGKILL, by pid: what it held in memory is gone."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.crash()

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=0)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001
            return False


def celery_app(broker_url: str, queue: str) -> Celery:
    """A Celery app configured like the project's, publishing to ``queue`` on ``broker_url``."""
    app = Celery("advocate-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    app.conf.task_default_queue = queue
    return app


def queued_task_ids(redis_client, queue: str) -> list[str]:
    """The Celery task ids of the messages waiting in a Redis queue."""
    return [json.loads(raw)["headers"]["id"] for raw in redis_client.lrange(queue, 0, -1)]


def purge(redis_client, queue: str) -> None:
    redis_client.delete(queue, f"{queue}.unacked", f"{queue}.unacked_index")


def start_worker(
    *, broker_url: str, queue: str, tmp_path: Path, name: str, include: str = "", **env
) -> subprocess.Popen:
    """``celery -A config worker`` on the test database, consuming ``queue`` on ``broker_url``."""
    db = connection.settings_dict
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": broker_url,
        "ADVOCATE_TEST_QUEUE": queue,
        **env,
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={queue}",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
        f"--hostname={name}@%h",
    ]
    if include:
        command.append(f"--include={include}")
    return subprocess.Popen(
        command, cwd=BASE_DIR, env=worker_env, stdout=log, stderr=subprocess.STDOUT
    )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
