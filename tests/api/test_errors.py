"""Bad input is a 4xx in the one error shape, and changes nothing. A 500 is a bug."""

import json

import pytest

from accounts.models import Customer
from referrals.models import Conversion, Referral
from tests.api.conftest import error_of


def test_malformed_json_is_a_400(api):
    response = api.post("/api/v1/customers", raw=b'{"external_id": "c-1",')
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and error["code"] == "parse_error"
    assert not Customer.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(api):
    for raw in ["[1, 2]", '"text"', "42", "null"]:
        response = api.post("/api/v1/customers", raw=raw)
        assert response.status_code == 400, raw
        error_of(response)


def test_it_takes_json_only(api):
    response = api.client.post(
        "/api/v1/customers",
        "external_id=c-1",
        content_type="application/x-www-form-urlencoded",
        **api.headers(),
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_megabyte_body_is_refused_before_it_is_read(api):
    body = json.dumps({"external_id": "c-1", "name": "x" * (1024 * 1024)})
    response = api.post("/api/v1/customers", raw=body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert not Customer.objects.exists()


def test_nul_bytes_are_refused(api, source, program):
    response = api.post("/api/v1/customers", {"external_id": "c-\x001", "name": "a\x00b"})
    assert response.status_code == 400
    params = {e["param"] for e in error_of(response)["errors"]}
    assert params == {"external_id", "name"}
    response = api.get("/api/v1/customers", {"email": "a\x00@example.com"})
    assert response.status_code == 400
    response = api.post(
        "/api/v1/events",
        {"id": "o\x00", "type": "purchase", "email": "f@example.com", "amount": "5"},
    )
    assert response.status_code == 400
    assert not Customer.objects.exists() and not Conversion.objects.exists()


def test_validation_errors_are_listed_field_by_field(api):
    response = api.post(
        "/api/v1/events",
        {"id": "", "type": "sale", "amount": "-5", "currency": "XXX", "email": "nope"},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    by_param = {e["param"]: e["code"] for e in error["errors"]}
    assert by_param == {
        "id": "blank",
        "type": "invalid_choice",
        "amount": "min_value",
        "currency": "invalid_choice",
        "email": "invalid",
    }
    assert (error["param"], error["code"]) == ("id", "blank")  # the first, at the top


@pytest.mark.parametrize(
    "amount,code",
    [
        ("1e30", "max_digits"),
        ("1000000000.01", "max_value"),
        ("12.345", "max_decimal_places"),
        ("NaN", "invalid"),
        ("Infinity", "invalid"),
        ("abc", "invalid"),
        ([], "invalid"),
        ({"a": 1}, "invalid"),
        (True, "invalid"),
    ],
)
def test_absurd_amounts_are_refused(api, amount, code):
    response = api.post(
        "/api/v1/events",
        {"id": "o-1", "type": "purchase", "email": "f@example.com", "amount": amount},
    )
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == "amount"


def test_wrong_types_are_refused(api):
    for body in [
        {"external_id": 12},
        {"external_id": ["c-1"]},
        {"external_id": {"x": 1}},
        {"external_id": None},
        {"external_id": "c-1", "email": 5},
    ]:
        response = api.post("/api/v1/customers", body)
        assert response.status_code == 400, body
        error_of(response)
    assert not Customer.objects.filter(external_id="c-1", email="5").exists()


def test_unknown_filters_values_are_a_400(api):
    for params in [
        {"referred": "maybe"},
        {"created_after": "yesterday"},
    ]:
        response = api.get("/api/v1/customers", params)
        assert response.status_code == 400, params
        error_of(response)
    for params in [{"source": "abc"}, {"source": str(2**70)}, {"status": "won"}]:
        response = api.get("/api/v1/referrals", params)
        assert response.status_code == 400, params


def test_huge_ids_in_paths_are_a_404(api):
    assert api.get(f"/api/v1/customers/{2**70}").status_code == 404
    assert api.post(f"/api/v1/rewards/{2**64}/approve").status_code == 404


def test_unknown_methods_are_a_405_in_the_shape(api):
    response = api.client.delete("/api/v1/customers", **api.headers())
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_bad_referral_changes_nothing(api, program, source):
    response = api.post(
        "/api/v1/referrals",
        {"source": source.pk, "program": program.pk, "channel": "link", "friend_email": "x@y.z"},
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "channel"
    response = api.post("/api/v1/referrals", {"source": source.pk, "program": program.pk})
    assert response.status_code == 400
    assert error_of(response)["param"] == "friend_email"
    assert not Referral.objects.exists()


def test_deeply_nested_json_is_a_400(api, source):
    """Nesting deeper than Python's parser can recurse (a few hundred kB, under the 1 MB cap)
    is malformed input like any other, not a 500; with an Idempotency-Key too."""
    for body in [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000]:
        for headers in [None, {"Idempotency-Key": f"deep-{body[:1].decode()}"}]:
            response = api.post("/api/v1/customers", raw=body, headers=headers)
            assert response.status_code == 400, response.content[:200]
            assert error_of(response)["code"] == "parse_error"
        response = api.post("/api/v1/events/bulk", raw=body)
        assert response.status_code == 400
        response = api.client.patch(
            f"/api/v1/sources/{source.pk}", body, content_type="application/json", **api.headers()
        )
        assert response.status_code == 400
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers",
        "/api/v1/sources",
        "/api/v1/links",
        "/api/v1/programs",
        "/api/v1/referrals",
        "/api/v1/rewards",
        "/api/v1/payouts",
        "/api/v1/analytics/sources",
    ],
)
def test_a_tampered_cursor_is_a_400(api, source, path):
    """A cursor is opaque, but it is only base64 of ``p=<position>``: one edited to hold a
    position that is not an id (or a time, or a name with NUL) was a 500 on every list."""
    import base64

    def cursor(text: bytes) -> str:
        return base64.b64encode(text).decode()

    for params in [
        {"cursor": "not base64!"},
        {"cursor": cursor(b"p=abc")},
        {"cursor": cursor(b"p=1e5")},
        {"cursor": cursor(b"p=%00")},
        {"cursor": cursor(b"p=abc"), "ordering": "created_at"},
        {"cursor": cursor(b"p=%00"), "ordering": "name"},
    ]:
        ordering = params.get("ordering")
        if ordering and api.get(path, {"ordering": ordering}).status_code == 400:
            continue  # a list that does not take this ordering refuses it first
        response = api.get(path, params)
        assert response.status_code == 400, (params, response.content[:200])
        error = error_of(response)
        assert (error["code"], error["param"]) == ("invalid_cursor", "cursor")
    assert api.get(path, {"cursor": cursor(b"p=1")}).status_code == 200


def test_control_characters_in_text_are_refused(api, source, program):
    """A form refuses C0 control characters other than tab and new lines (core.middleware);
    the API, whose JSON bodies the middleware leaves to the view, refused only NUL and
    stored the others: a customer named "\\x1b[2J", an event id with \\x01 in it."""
    from referrals.models import Conversion

    response = api.post("/api/v1/customers", {"external_id": "c\x011", "name": "a\x1b[2J"})
    assert response.status_code == 400
    errors = error_of(response)["errors"]
    assert {(e["param"], e["code"]) for e in errors} == {
        ("external_id", "control_character"),
        ("name", "control_character"),
    }
    response = api.post("/api/v1/sources", {"name": "Sam\x07"})
    assert response.status_code == 400 and error_of(response)["param"] == "name"
    event = {"id": "o\x01", "type": "purchase", "email": "f@example.com", "amount": "5"}
    response = api.post("/api/v1/events", event)
    assert response.status_code == 400 and error_of(response)["param"] == "id"
    [item] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
    assert (item["status"], item["error"]["code"]) == (400, "control_character")
    assert not Customer.objects.exists() and not Conversion.objects.exists()
    # Tab and new lines, which a person may type in a text box, are still taken.
    response = api.post("/api/v1/sources", {"name": "Sam", "company": "Line one\nLine\ttwo"})
    assert response.status_code == 201
