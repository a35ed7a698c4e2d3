from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.tenancy import org_member_required
from analytics import selectors
from core.csv import csv_lines


@org_member_required()
def overview(request):
    org = request.organization
    context = {
        "stats": selectors.overview(organization=org),
        "series": selectors.monthly_series(organization=org),
        "kinds": selectors.by_source_kind(organization=org),
        "top_sources": selectors.top_sources(organization=org),
        "customers": selectors.customers_compared(organization=org),
    }
    return render(request, "dashboard/analytics/overview.html", context)


@org_member_required()
def source_export(request):
    """Every source with its figures, as CSV: the same figures as the overview's tables."""
    org = request.organization
    rows = selectors.source_export_rows(organization=org)
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    name = f"{org.slug}-source-figures-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
