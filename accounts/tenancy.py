"""
The one way to get the current organization in a request.

A staff user may belong to several organizations; the one they work in is kept in the
session. Views use the ``org_member_required`` decorator, which sets
``request.organization`` and ``request.membership`` and activates the organization's
time zone, so every date on the page is shown in the organization's time zone.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils import timezone

from .models import Membership, Role

SESSION_KEY = "organization_id"


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership the signed-in user works under now, or None."""
    if hasattr(request, "_membership_cache"):
        return request._membership_cache
    membership = None
    user = request.user
    if user.is_authenticated:
        memberships = Membership.objects.select_related("organization").filter(user=user)
        wanted = request.session.get(SESSION_KEY)
        if wanted is not None:
            membership = memberships.filter(organization_id=wanted).first()
        if membership is None:
            membership = memberships.order_by("created_at").first()
            if membership is not None:
                request.session[SESSION_KEY] = membership.organization_id
    request._membership_cache = membership
    return membership


def switch_organization(request: HttpRequest, organization_id: int) -> Membership | None:
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=request.user, organization_id=organization_id)
        .first()
    )
    if membership is not None:
        request.session[SESSION_KEY] = membership.organization_id
        request._membership_cache = membership
    return membership


def org_member_required(role: str = Role.ANALYST) -> Callable:
    """Require a signed-in member of an organization with at least ``role``.

    Analysts may read; a view that writes asks for ``Role.MANAGER`` (or owner), and a
    read-only member trying it gets a 403.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = current_membership(request)
            if membership is None:
                return redirect("accounts:onboarding")
            if not membership.has_role(role):
                raise PermissionDenied("Your role does not allow this.")
            request.membership = membership
            request.organization = membership.organization
            timezone.activate(membership.organization.timezone)
            return view(request, *args, **kwargs)

        wrapped.org_member_role = role  # type: ignore[attr-defined]  # read by the URL test
        return wrapped

    return decorator


def can_write(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.has_role(Role.MANAGER)
