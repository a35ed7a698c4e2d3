from accounts.models import Membership


def organization(request):
    """Expose the organization the view works in, and the others the user may switch to."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "organization": membership.organization,
        "membership": membership,
        "can_write": membership.has_role("manager"),
        "other_memberships": Membership.objects.filter(user_id=membership.user_id)
        .exclude(pk=membership.pk)
        .select_related("organization"),
    }
