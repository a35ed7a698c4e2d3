from django.shortcuts import render

from accounts.tenancy import org_member_required
from analytics import selectors


@org_member_required()
def overview(request):
    org = request.organization
    context = {
        "stats": selectors.overview(organization=org),
        "series": selectors.monthly_series(organization=org),
        "kinds": selectors.by_source_kind(organization=org),
        "top_sources": selectors.top_sources(organization=org),
    }
    return render(request, "dashboard/analytics/overview.html", context)
