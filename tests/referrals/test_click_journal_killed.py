"""
A web worker SIGKILLed under load loses no click.

A real gunicorn (two sync workers, the test settings, this run's test database) serves
/r/<code> to eight client threads, each request with a user agent of its own. One worker is
SIGKILLed while they run; gunicorn starts another. Then the shipper loads the journals:
every request that got its redirect has its click, exactly once, and the killed worker's
journal, unlocked by its death, is loaded and removed like the others.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from referrals import clicks
from referrals.models import Click
from referrals.services import program_update
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
THREADS, REQUESTS = 8, 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, user_agent: str) -> int | None:
    """The status of one GET (redirects not followed), or None when the server hung up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"User-Agent": user_agent})
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException, TimeoutError):
        return None
    finally:
        conn.close()


def workers_of(master: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def test_a_worker_killed_under_load_loses_no_click(link, program, tmp_path, settings):
    program_update(
        program=program, landing_mode="redirect", destination_url="https://bank.example/open"
    )
    journal = tmp_path / "clicks"
    settings.CLICK_JOURNAL_DIR = journal
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLICK_JOURNAL_DIR": str(journal),
        "CLICK_JOURNAL_SHIP_EAGERLY": "0",  # the journals, as in production
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--worker-class=sync",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: dict[str, int | None] = {}
    done = threading.Semaphore(0)

    def visitor(n: int):
        for i in range(REQUESTS):
            agent = f"visitor-{n}-{i}"
            results[agent] = get(port, f"/r/{link.code}", agent)
            done.release()

    try:
        wait_for(lambda: get(port, "/r/no-such-link", "probe") == 404, timeout=60)
        threads = [threading.Thread(target=visitor, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for _ in range(THREADS * REQUESTS // 3):
            done.acquire()
        # Kill, mid-load, a worker that has journaled clicks.
        writing = wait_for(
            lambda: [
                pid
                for pid in workers_of(server.pid)
                if any(journal.glob(f"clicks-*-{pid}-*.jsonl"))
            ]
        )
        victim = writing[0]
        os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join()
        killed_files = sorted(journal.glob(f"clicks-*-{victim}-*.jsonl"))
        assert killed_files and all(f.stat().st_size for f in killed_files)
        assert victim not in workers_of(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    answered = {agent for agent, status in results.items() if status == 302}
    assert len(results) == THREADS * REQUESTS
    assert len(answered) > THREADS * REQUESTS // 2, (tmp_path / "gunicorn.log").read_text()
    clicks.ship(journal)
    stored = list(Click.objects.filter(link=link).values_list("user_agent", flat=True))
    assert answered <= set(stored)  # every redirect a visitor got has its click
    assert len(stored) == len(set(stored))  # and none is loaded twice
    assert set(stored) <= set(results)  # (a request cut off by the kill may have one too)
    assert not any(journal.glob("clicks-*.jsonl"))  # every writer gone: all loaded, removed
