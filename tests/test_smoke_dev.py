"""
The README's first command, for real: bin/dev on a free port with embedded defaults
(SQLite, filesystem broker), no DATABASE_URL or REDIS_URL. It loads /, signs in as the demo
owner, sees the demo organization, follows a referral link whose click the click shipper
loads, has the embedded worker issue a reward, and stops cleanly on Ctrl-C (SIGINT to the
process group, as a terminal sends it).
"""

import http.client
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_env(var_dir: Path, port: int) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DJANGO_SETTINGS_MODULE",
            "CELERY_BROKER_URL",
        }
    }
    env.update(ADVOCATE_VAR_DIR=str(var_dir), PORT=str(port), DEMO_CUSTOMERS="100")
    return env


def wait_http(url: str, process: subprocess.Popen, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bin/dev exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return response
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def run_in_app(env: dict, code: str) -> str:
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@pytest.mark.slow
def test_bin_dev_serves_signs_in_runs_tasks_and_stops(tmp_path):
    port = free_port()
    env = embedded_env(tmp_path, port)
    log = open(tmp_path / "dev.log", "w+")  # noqa: SIM115 - read after the process ends
    process = subprocess.Popen(
        ["bash", str(ROOT / "bin/dev")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_http(base + "/", process).status == 200

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "login": "demo@advocate.local",
                "password": "advocate-demo",
            }
        ).encode()
        request = urllib.request.Request(
            base + "/accounts/login/", data=data, headers={"Referer": base + "/"}
        )
        dashboard = opener.open(request)
        html = dashboard.read().decode()
        assert dashboard.url.endswith("/app/"), dashboard.url
        assert "Northbank" in html and 'data-stat="clicks"' in html

        # A click on a demo link is journaled by the web process and loaded into SQLite by
        # the click shipper that runstack starts beside it.
        code = run_in_app(
            env,
            "from referrals.models import ReferralLink;"
            "print(ReferralLink.objects.filter(program__status='active',"
            " source__active=True).first().code)",
        )
        click_count = (
            f"from referrals.models import Click; print(Click.objects.filter(link__code='{code}',"
            " user_agent='smoke-click').count())"
        )
        assert run_in_app(env, click_count) == "0"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/r/{code}", headers={"User-Agent": "smoke-click"})
        assert conn.getresponse().status in (200, 302)
        conn.close()
        deadline = time.monotonic() + 60
        while run_in_app(env, click_count) != "1":
            assert time.monotonic() < deadline, "the click shipper loaded no click"
            time.sleep(1)

        # The embedded worker consumes the filesystem broker: a new purchase earns a reward.
        reward_count = (
            "from rewards.models import Reward;"
            "print(Reward.objects.filter(conversion__external_id='smoke-1').count())"
        )
        assert run_in_app(env, reward_count) == "0"
        # The reward task is handed to the broker at the commit (the outbox's relay), not
        # left for the drain, which runs every 30 s: on SQLite too.
        relayed = run_in_app(
            env,
            "from core.models import OutboxMessage;"
            "from referrals.models import ReferralLink;"
            "from referrals.services import event_record;"
            "last = OutboxMessage.objects.order_by('-id').values_list('id', flat=True).first();"
            "k = ReferralLink.objects.filter(program__reward_rules__trigger='first_purchase',"
            " program__status='active', source__active=True).first();"
            "event_record(organization=k.organization, kind='purchase', external_id='smoke-1',"
            " amount=100, email='smoke@example.com', code=k.public_code);"
            "new = OutboxMessage.objects.filter(id__gt=last or 0);"
            "print(sorted({m.sent_at is not None for m in new}) or 'none')",
        )
        assert relayed == "[True]", relayed
        deadline = time.monotonic() + 60
        while run_in_app(env, reward_count) == "0":
            assert time.monotonic() < deadline, "the embedded worker issued no reward"
            time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.seek(0)
        output = log.read()
    assert code == 0, output[-3000:]
    assert "Stopped." in output
    assert "Click shipper stopped." in output
    assert "ready." in output  # the worker announced it was ready
    assert "beat: Starting" in output
