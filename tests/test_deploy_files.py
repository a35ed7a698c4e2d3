"""The production files stay consistent with the settings they feed."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_web_worker_and_beat_on_postgres_and_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert "SECRET_KEY" in env
    assert "gunicorn config.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A config worker")
    assert services["beat"]["command"].startswith("celery -A config beat")


def test_the_web_server_gives_a_bulk_of_api_events_more_than_gunicorns_default_30s():
    # A bulk of 1,000 events left to the event-by-event path (racing deliveries) may take
    # longer than 30 s on a small machine; gunicorn would kill the worker mid-request.
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"][
        "command"
    ]
    assert "--timeout 120" in command
    assert '"--timeout", "120"' in (ROOT / "Dockerfile").read_text()


def test_the_click_shipper_reads_the_web_servers_journals():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["clicks"]["command"] == "python manage.py ship_clicks"
    assert services["clicks"]["environment"]["DATABASE_URL"].startswith("postgres://")
    journals = "clicks:/app/var/clicks"  # CLICK_JOURNAL_DIR's default in the image
    assert journals in services["web"]["volumes"] and journals in services["clicks"]["volumes"]


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "bin/dev" in first_block and "bin/test" in first_block
    for script in ("bin/dev", "bin/test", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_ci_runs_the_production_build_check():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nbin/prodcheck\n" in ci
    assert (ROOT / "bin" / "prodcheck").stat().st_mode & 0o111


def test_every_copy_of_chart_js_brings_its_source_map():
    # collectstatic's manifest storage follows chart.umd.js's sourceMappingURL.
    for path in ("bin/setup", "Dockerfile"):
        text = (ROOT / path).read_text()
        assert "chart.js/dist/chart.umd.js.map" in text, path


def test_every_run_of_the_production_settings_names_its_site_url():
    # check --deploy fails on a SITE_URL left at localhost (core/checks.py): CI names one.
    ci = (ROOT / ".ci" / "run").read_text()
    deploy_check = ci.split("manage.py check --deploy", 1)[0].rsplit("echo", 1)[1]
    assert "SITE_URL=https://" in deploy_check
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("web", "clicks", "worker", "beat"):
        assert "SITE_URL" in services[name]["environment"], name
    for path in ("bin/prodcheck", "bench/common.py"):
        assert '"SITE_URL"' in (ROOT / path).read_text(), path
