"""Helpers for the accounts tests: uploading a CSV file the way a browser does."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


def csv_file(text: str | bytes, name: str = "upload.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def upload():
    """POST a CSV to an import page; returns the response."""

    def _upload(client, path: str, text: str | bytes, name: str = "upload.csv"):
        return client.post(path, {"file": csv_file(text, name)})

    return _upload


def preview_url(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


# The rewards fixtures the rewards pages are tried with: a referred friend, rules, an
# account with credit (tests/rewards/conftest.py).
from tests.rewards.conftest import account, grant, make_rule, referral  # noqa: E402, F401
