"""
Run the whole app in one terminal: the web server, the click shipper, a Celery worker and
Celery beat.

Meant for the embedded defaults (SQLite, filesystem broker): one command, Ctrl-C stops
all three. In production each runs as its own service (see docker-compose.yml).
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Start the web server, the click shipper, a Celery worker and Celery beat together; "
        "Ctrl-C stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true")
        parser.add_argument("--no-beat", action="store_true")

    def handle(self, *args, host, port, no_worker, no_beat, **options):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        commands = {
            "web": [python, manage, "runserver", f"{host}:{port}", "--noreload"],
            # The web process journals each click; this loads the journals into the database.
            "clicks": [python, manage, "ship_clicks"],
        }
        if not no_worker:
            commands["worker"] = [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "--hostname=worker@%h",
            ]
        if not no_beat:
            commands["beat"] = [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                f"--schedule={settings.VAR_DIR / 'celerybeat-schedule'}",
            ]
        children = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603 - our own argv
            for name, cmd in commands.items()
        }
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"Advocate is starting: {', '.join(children)}."))
        self.stdout.write(f"Open {url}app/ and sign in as demo@advocate.local / advocate-demo")
        self.stdout.write("Press Ctrl-C to stop everything.")

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with {child.returncode}; stopping the rest."
                        )
                        exit_code = child.returncode or 1
                        stopping = True
                        break
                time.sleep(0.3)
        finally:
            self._shutdown(children)
        if exit_code:
            sys.exit(exit_code)

    def _shutdown(self, children):
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("Stopped.")
