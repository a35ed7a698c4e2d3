"""The database connections: the default alias prepares its statements, analytics does not."""

import runpy
from pathlib import Path

import pytest
from django.db import connection

SETTINGS = Path(__file__).resolve().parents[2] / "config" / "settings.py"


def _settings(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    # Run apart from the settings in use (a namespace of its own, not the imported module).
    return runpy.run_path(str(SETTINGS))["DATABASES"]


def test_the_default_alias_binds_server_side_and_prepares_repeated_statements(monkeypatch):
    databases = _settings(monkeypatch)
    assert databases["default"]["OPTIONS"]["server_side_binding"] is True
    assert databases["default"]["OPTIONS"]["prepare_threshold"] == 2
    assert "server_side_binding" not in databases["analytics"]["OPTIONS"]
    assert "prepare_threshold" not in databases["analytics"]["OPTIONS"]


def test_server_side_binding_can_be_turned_off(monkeypatch):
    databases = _settings(monkeypatch, DB_SERVER_SIDE_BINDING="0")
    assert "server_side_binding" not in databases["default"]["OPTIONS"]
    assert "prepare_threshold" not in databases["default"]["OPTIONS"]


@pytest.mark.django_db
def test_the_suite_runs_with_it():
    assert connection.settings_dict["OPTIONS"].get("server_side_binding") is True
