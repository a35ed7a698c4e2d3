"""What the benchmarks share: scratch databases, the app's environment, processes, wrk."""

import contextlib
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv/bin/python")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SCRATCH = ROOT / "var" / "bench"  # the benchmarks' own var dir: static files, click journals


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(name: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_env(database: str, *, var_dir: Path = SCRATCH, **extra) -> dict:
    """The production settings (DEBUG off) on a scratch database, plus the bare view."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        # One address sends every request: the per-address click limit would refuse most.
        "RATELIMIT_LINK": "",
        "ADVOCATE_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def manage(env: dict, *args: str, code: str | None = None) -> str:
    """Run manage.py (or a snippet in ``manage.py shell``); returns its last output line."""
    cmd = [PY, "manage.py", *args] if code is None else [PY, "manage.py", "shell", "-c", code]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed:\n{out.stderr[-3000:]}")
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def gunicorn_command(port: int, workers: int, *extra: str) -> list[str]:
    """gunicorn serving the app with sync workers on 127.0.0.1:``port``, plus ``extra``
    options (a timeout, ``--no-control-socket``)."""
    return [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--log-level=warning",
        *extra,
    ]


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the server answers ``url`` at all (redirects are not followed)."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        try:
            connection.request("GET", parts.path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * _UNITS[unit]


# Counts the requests wrk sent: a request still in flight when a run's time is up is served
# (and its click journaled) but not counted among wrk's completed requests.
WRK_SCRIPT = ROOT / "bench" / "count_sent.lua"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, seconds: float, connections: int, threads: int = 2, headers=()) -> dict:
    """One wrk run; its figures, and the CPU wrk itself used."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is needed: apt-get install wrk (bench/run installs it as root)")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--latency"]
    cmd += ["-s", str(WRK_SCRIPT)]
    for header in headers:
        cmd += ["-H", header]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "total": int(re.search(r"(\d+) requests in", out).group(1)),
        "sent": int(re.search(r"Requests sent: (\d+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "wrk_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"
