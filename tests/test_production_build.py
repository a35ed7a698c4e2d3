"""
The production static build, and what an unhandled error leaves behind.

Production serves static files through WhiteNoise's manifest storage: ``collectstatic`` must
get through every file (it once stopped on Chart.js's source map), pages then link the hashed
names, and an error page must never need a manifest entry that can be missing. An unhandled
error writes its traceback to the console log.
"""

import io
import json
import logging
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.test import override_settings

MANIFEST = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@contextmanager
def request_log():
    """What the django.request logger's console handler writes, while the block runs."""
    handlers = [
        handler
        for handler in logging.getLogger("django.request").handlers
        if type(handler) is logging.StreamHandler  # the console, not pytest's own handlers
    ]
    assert handlers, "django.request has no console handler of its own"
    stream = io.StringIO()
    old = [handler.setStream(stream) for handler in handlers]
    try:
        yield stream
    finally:
        for handler, previous in zip(handlers, old, strict=True):
            handler.setStream(previous)


def test_collectstatic_builds_the_production_manifest(tmp_path, client, link, alice):
    with override_settings(STORAGES=MANIFEST, STATIC_ROOT=tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
        manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
        chart = manifest["vendor/chart.umd.js"]
        assert (tmp_path / manifest["vendor/chart.umd.js.map"]).exists()
        # The hashed script points at the hashed map, which exists.
        tail = (tmp_path / chart).read_text()[-200:]
        assert f"sourceMappingURL={manifest['vendor/chart.umd.js.map'].split('/')[-1]}" in tail

        landing = client.get(f"/r/{link.public_code}")
        assert landing.status_code == 200
        assert f"/static/{manifest['css/app.css']}" in landing.content.decode()
        client.force_login(alice)
        overview = client.get("/app/")
        assert f"/static/{chart}" in overview.content.decode()


def test_the_error_page_needs_no_static_file_and_the_error_is_logged(tmp_path, client, link):
    """Before collectstatic has run, a page that links a static file fails; the 500 page
    itself still renders, and the traceback reaches the log."""
    client.raise_request_exception = False
    with override_settings(STORAGES=MANIFEST, STATIC_ROOT=tmp_path), request_log() as log:
        response = client.get(f"/r/{link.public_code}")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    written = log.getvalue()
    assert f"ERROR django.request Internal Server Error: /r/{link.public_code}" in written
    assert "Traceback (most recent call last)" in written
    assert "Missing staticfiles manifest entry for " in written


def test_the_error_page_links_no_static_file():
    from django.template.loader import get_template

    source = get_template("500.html").template.source
    assert "{% static" not in source and "{% extends" not in source and "{% include" not in source


@pytest.mark.parametrize("path", ["/app/sources/%00/", "/no-such-page/"])
def test_a_client_error_is_not_logged_as_an_error(client, db, path):
    with request_log() as log:
        assert client.get(path).status_code in (400, 404)
    assert log.getvalue() == ""
