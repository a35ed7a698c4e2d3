"""Every dashboard page gets its organization through ``org_member_required``.

The URL resolver is walked, not a hand-kept list, so a page added without the decorator
fails here before it can show one tenant's data to another.
"""

from django.urls import URLPattern, URLResolver, get_resolver

# Pages under the dashboard that come before an organization exists, or choose one: they
# require a signed-in user (login_required) and never read tenant data by id.
BEFORE_AN_ORGANIZATION = {
    "accounts:home",
    "accounts:onboarding",
    "accounts:switch",
    "accounts:invitation_accept",
}


def _patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", entry.callback


def _dashboard_views():
    return [
        (name, view)
        for name, view in _patterns()
        if view.__module__.startswith("dashboard.") and name not in BEFORE_AN_ORGANIZATION
    ]


def test_the_walk_finds_every_dashboard_area():
    areas = {name.split(":")[0] for name, _ in _dashboard_views()}
    assert areas == {"accounts", "referrals", "rewards", "analytics", "developers", "start"}
    assert len(_dashboard_views()) > 40


def test_every_dashboard_view_requires_an_organization_member():
    missing = [name for name, view in _dashboard_views() if not hasattr(view, "org_member_role")]
    assert missing == []


def test_the_pages_before_an_organization_require_a_signed_in_user(client):
    from django.urls import reverse

    for name in ("accounts:onboarding", "accounts:switch"):
        args = [1] if name == "accounts:switch" else []
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
