"""``manage.py check --deploy`` refuses production settings whose SITE_URL is the default."""

import pytest
from django.core.checks import Error, Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings


def site_url_errors() -> list[Error]:
    return [
        message
        for message in run_checks(tags=[Tags.security], include_deployment_checks=True)
        if message.id == "core.E001"
    ]


@pytest.mark.parametrize(
    "site_url",
    [
        "http://localhost:8000",  # the default when SITE_URL is not set
        "",
        "https://localhost",
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
        "http://0.0.0.0",
        "localhost:8000",
        "advocate.example",  # no scheme: every emailed link would be relative
        "http://[::1",  # not an address at all: an error, not a crash of the check
        "https://advocate.example:port",
    ],
)
def test_production_settings_with_a_local_or_missing_site_url_fail_the_deploy_check(site_url):
    """Emails, share links and QR codes are built from SITE_URL with DEBUG off: left at its
    default, every link a friend or source got pointed at localhost."""
    with override_settings(DEBUG=False, SITE_URL=site_url):
        assert len(site_url_errors()) == 1
        with pytest.raises(SystemCheckError, match="SITE_URL"):
            call_command("check", "--deploy", "--tag", "security")


@pytest.mark.parametrize("site_url", ["https://advocate.example", "https://refer.acme.io:8443"])
def test_a_public_site_url_passes(site_url):
    with override_settings(DEBUG=False, SITE_URL=site_url):
        assert site_url_errors() == []


def test_development_may_keep_localhost():
    with override_settings(DEBUG=True, SITE_URL="http://localhost:8000"):
        assert site_url_errors() == []
