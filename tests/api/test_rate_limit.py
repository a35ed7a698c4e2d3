"""Rate limits per API key, counted on the Redis cache: a 429 says when to come back."""

from tests.api.conftest import Api, error_of, key_for


def test_a_key_over_its_rate_gets_a_429_with_retry_after(api, acme, settings):
    settings.API_RATE_LIMIT = "3/minute"
    assert [api.get("/api/v1/programs").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/api/v1/programs")
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another key of the same organization has a rate of its own.
    assert Api(key_for(acme, name="Other")).get("/api/v1/programs").status_code == 200


def test_a_throttled_post_does_no_work(api, settings):
    from accounts.models import ReferralSource

    settings.API_RATE_LIMIT = "1/hour"
    assert api.post("/api/v1/sources", {"name": "A"}).status_code == 201
    assert api.post("/api/v1/sources", {"name": "B"}).status_code == 429
    assert list(ReferralSource.objects.values_list("name", flat=True)) == ["A"]
