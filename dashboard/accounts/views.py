import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors, services, widget
from accounts.imports import COLUMNS, MAX_BYTES, MAX_ROWS, escape_cell
from accounts.models import CsvImport, Invitation, Membership, ReferralSource, Role, SourceKind
from accounts.tenancy import current_membership, org_member_required, switch_organization
from core.forms import add_form_errors, call_service, render_form
from core.site import base_url
from dashboard.pagination import paginate
from dashboard.start.views import wizard_steps
from referrals import selectors as referral_selectors
from referrals import services as referral_services

from .forms import (
    ContributionForm,
    ImportForm,
    InvitationForm,
    OrganizationForm,
    OrganizationSettingsForm,
    PortalRotateForm,
    RoleForm,
    SourceForm,
)


def home(request):
    if request.user.is_authenticated:
        return redirect("analytics:overview")
    return render(request, "home.html")


@login_required
def onboarding(request):
    """Sign up as a business: create an organization and become its owner."""
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(
            owner=request.user,
            name=form.cleaned_data["name"],
            currency=form.cleaned_data["currency"],
            timezone_name=form.cleaned_data["timezone"],
        )
        switch_organization(request, organization.pk)
        messages.success(request, f"{organization.name} is ready. Now your offer.")
        return redirect("start:offer")
    return render(
        request,
        "dashboard/accounts/onboarding.html",
        {"form": form, "has_org": current_membership(request), "steps": wizard_steps(1)},
    )


@login_required
@require_POST
def switch(request, organization_id: int):
    if switch_organization(request, organization_id) is None:
        return render(request, "404.html", status=404)
    return redirect("analytics:overview")


@org_member_required()
def members(request):
    invite_form = InvitationForm(request.POST or None)
    is_owner = request.membership.has_role(Role.OWNER)
    if request.method == "POST":
        if not is_owner:
            return render(request, "403.html", status=403)
        if invite_form.is_valid():
            ok, invitation = call_service(
                invite_form,
                services.invitation_create,
                base_url=base_url(request),
                organization=request.organization,
                email=invite_form.cleaned_data["email"],
                role=invite_form.cleaned_data["role"],
                invited_by=request.user,
            )
            if ok:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("accounts:members")
    context = {
        "members": selectors.member_list(organization=request.organization),
        "invitations": Invitation.objects.for_organization(request.organization).filter(
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            created_at__gte=timezone.now() - services.INVITATION_LIFETIME,
        ),
        "invite_form": invite_form,
        "is_owner": is_owner,
        "roles": Role.choices,
    }
    return render_form(request, "dashboard/accounts/members.html", context)


@org_member_required(Role.OWNER)
@require_POST
def member_role(request, membership_id: int):
    membership = get_object_or_404(
        Membership.objects.for_organization(request.organization), pk=membership_id
    )
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_change_role(
                membership=membership, role=form.cleaned_data["role"], by=request.membership
            )
            messages.success(
                request, f"{membership.user.email} is now {membership.get_role_display()}."
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, "Choose a valid role.")
    return redirect("accounts:members")


@org_member_required(Role.OWNER)
@require_POST
def member_remove(request, membership_id: int):
    membership = get_object_or_404(
        Membership.objects.for_organization(request.organization).select_related("user"),
        pk=membership_id,
    )
    try:
        services.membership_remove(membership=membership, by=request.membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:members")
    if membership.pk == request.membership.pk:
        messages.success(request, f"You left {request.organization.name}.")
        return redirect("accounts:home")
    messages.success(
        request, f"{membership.user.email} no longer has access to {request.organization.name}."
    )
    return redirect("accounts:members")


@org_member_required(Role.OWNER)
@require_POST
def invitation_revoke(request, invitation_id: int):
    invitation = get_object_or_404(
        Invitation.objects.for_organization(request.organization), pk=invitation_id
    )
    try:
        services.invitation_revoke(invitation=invitation, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The invitation to {invitation.email} is revoked.")
    return redirect("accounts:members")


def invitation_accept(request, token: str):
    invitation = get_object_or_404(Invitation, token=token)
    context = {
        "invitation": invitation,
        "expired": services.invitation_is_expired(invitation),
        "revoked_message": services.INVITATION_REVOKED,
    }
    if not request.user.is_authenticated:
        request.session["invitation_token"] = token
        return render(request, "dashboard/accounts/invitation.html", context)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("accounts:invitation_accept", token=token)
        switch_organization(request, membership.organization_id)
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("analytics:overview")
    return render(request, "dashboard/accounts/invitation.html", context)


# Sources --------------------------------------------------------------------------------


ACTIVE_FILTER = {"yes": True, "no": False}


def _source_filters(request) -> dict:
    return {
        "kind": request.GET.get("kind", ""),
        "query": request.GET.get("q", "").strip(),
        "active": ACTIVE_FILTER.get(request.GET.get("active", "")),
    }


@org_member_required()
def source_list(request):
    filters = _source_filters(request)
    qs = selectors.source_list(organization=request.organization, **filters)
    page = paginate(qs, request.GET.get("page"))
    return render(
        request,
        "dashboard/accounts/source_list.html",
        {
            "page": page,
            "kinds": SourceKind.choices,
            "kind": filters["kind"],
            "q": filters["query"],
            "active": request.GET.get("active", ""),
        },
    )


@org_member_required(Role.MANAGER)
def source_create(request):
    form = SourceForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        send_portal_link = fields.pop("send_portal_link", False)
        try:
            with transaction.atomic():
                source = services.source_create(organization=request.organization, **fields)
                links = referral_services.links_for_source(source=source)
                if send_portal_link and source.email and source.active:
                    services.source_portal_link_send(source=source, base_url=base_url(request))
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            sent = (
                f" Their portal link is on its way to {source.email}."
                if send_portal_link and source.email and source.active
                else ""
            )
            made = (
                f" Their link into {len(links)} active program{'s' if len(links) != 1 else ''}"
                " is ready."
                if links
                else ""
            )
            messages.success(request, f"Source {source.name} added.{made}{sent}")
            return redirect("accounts:source_detail", pk=source.pk)
    return render_form(request, "dashboard/accounts/source_form.html", {"form": form})


@org_member_required(Role.MANAGER)
def source_edit(request, pk: int):
    source = get_object_or_404(ReferralSource.objects.for_organization(request.organization), pk=pk)
    form = SourceForm(request.POST or None, instance=source, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        ok, _ = call_service(form, services.source_update, source=source, **form.cleaned_data)
        if ok:
            messages.success(request, "Source saved.")
            return redirect("accounts:source_detail", pk=source.pk)
    return render_form(
        request, "dashboard/accounts/source_form.html", {"form": form, "source": source}
    )


def _source_for(request, pk: int) -> ReferralSource:
    return get_object_or_404(
        ReferralSource.objects.for_organization(request.organization).select_related("customer"),
        pk=pk,
    )


def _render_source_detail(request, source, contribution_form=None, status=200):
    if contribution_form is None:
        today = services.organization_today(request.organization)
        contribution_form = ContributionForm(initial={"occurred_on": today})
    context = {
        "source": source,
        "totals": referral_selectors.source_totals(source=source),
        "links": referral_selectors.source_links(source=source),
        "referrals": referral_selectors.source_referrals(source=source)[:50],
        "conversions": referral_selectors.source_conversions(source=source)[:50],
        "contributions": selectors.contribution_list(source=source)[:50],
        "contribution_form": contribution_form,
    }
    return render(request, "dashboard/accounts/source_detail.html", context, status=status)


@org_member_required()
def source_detail(request, pk: int):
    return _render_source_detail(request, _source_for(request, pk))


@org_member_required(Role.MANAGER)
@require_POST
def source_deactivate(request, pk: int):
    source = services.source_deactivate(source=_source_for(request, pk))
    messages.success(request, f"{source.name} is inactive: its links no longer work.")
    return redirect("accounts:source_detail", pk=source.pk)


@org_member_required(Role.MANAGER)
@require_POST
def source_reactivate(request, pk: int):
    source = services.source_reactivate(source=_source_for(request, pk))
    messages.success(request, f"{source.name} is active again.")
    return redirect("accounts:source_detail", pk=source.pk)


@org_member_required(Role.MANAGER)
@require_POST
def source_portal_rotate(request, pk: int):
    """A new portal link for the source; the old one stops working at once."""
    source = _source_for(request, pk)
    form = PortalRotateForm(request.POST)
    if form.is_valid():
        try:
            services.source_portal_rotate(
                source=source, expires_in_days=form.cleaned_data["expires_in_days"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "New portal link made: the old one no longer works.")
    else:
        messages.error(request, " ".join(form.errors.get("expires_in_days", [])))
    return redirect("accounts:source_detail", pk=source.pk)


@org_member_required(Role.MANAGER)
@require_POST
def source_portal_send(request, pk: int):
    """Email the source the address of its portal."""
    source = _source_for(request, pk)
    try:
        services.source_portal_link_send(source=source, base_url=base_url(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Portal link sent to {source.email}.")
    return redirect("accounts:source_detail", pk=source.pk)


@org_member_required(Role.MANAGER)
@require_POST
def contribution_create(request, pk: int):
    source = _source_for(request, pk)
    form = ContributionForm(request.POST)
    if form.is_valid():
        ok, _ = call_service(
            form,
            services.contribution_log,
            source=source,
            created_by=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, "Contribution logged.")
            return redirect("accounts:source_detail", pk=source.pk)
    return _render_source_detail(request, source, contribution_form=form, status=400)


@org_member_required()
def customer_list(request):
    query = request.GET.get("q", "").strip()
    qs = selectors.customer_list(organization=request.organization, query=query)
    page = paginate(qs, request.GET.get("page"))
    return render(request, "dashboard/accounts/customer_list.html", {"page": page, "q": query})


# CSV export and import ------------------------------------------------------------------


class _Echo:
    """A file-like object whose ``write`` hands the line back, for streaming csv.writer."""

    def write(self, value):
        return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # a byte order mark, so spreadsheets read the file as UTF-8
        for row in rows:
            yield writer.writerow([escape_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _export_name(request, what: str) -> str:
    today = services.organization_today(request.organization)
    return f"{request.organization.slug}-{what}-{today:%Y-%m-%d}.csv"


@org_member_required()
def customer_export(request):
    rows = selectors.customer_export_rows(
        organization=request.organization, query=request.GET.get("q", "").strip()
    )
    return _csv_response(rows, _export_name(request, "customers"))


@org_member_required()
def source_export(request):
    rows = selectors.source_export_rows(
        organization=request.organization, **_source_filters(request)
    )
    return _csv_response(rows, _export_name(request, "sources"))


# Each kind of import: the prefix of its URL names, and what the pages call it.
IMPORTS = {
    CsvImport.Kind.CUSTOMERS: {"prefix": "accounts:customer", "title": "customers"},
    CsvImport.Kind.SOURCES: {"prefix": "accounts:source", "title": "referral sources"},
}


def _import_context(kind: str) -> dict:
    prefix = IMPORTS[kind]["prefix"]
    return {
        "kind": kind,
        "title": IMPORTS[kind]["title"],
        "list_url": reverse(f"{prefix}_list"),
        "upload_url": reverse(f"{prefix}_import"),
        "columns": ",".join(COLUMNS[kind]),
        "max_mb": MAX_BYTES // (1024 * 1024),
        "max_rows": MAX_ROWS,
        "kinds": SourceKind.values,
    }


@org_member_required(Role.MANAGER)
def csv_import_upload(request, kind: str):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            csv_import = services.csv_import_start(
                organization=request.organization,
                kind=kind,
                data=upload.read(),
                filename=upload.name,
                created_by=request.user,
            )
        except ValidationError as error:
            form.add_error("file", error.messages)
        else:
            return redirect(f"{IMPORTS[kind]['prefix']}_import_preview", pk=csv_import.pk)
    context = {**_import_context(kind), "form": form}
    return render_form(request, "dashboard/accounts/import_upload.html", context)


def _pending_import(request, kind: str, pk: int) -> CsvImport:
    return get_object_or_404(
        selectors.csv_import_pending(
            organization=request.organization, user=request.user, kind=kind
        ),
        pk=pk,
    )


def _render_preview(request, csv_import: CsvImport, *, error: str = "", status: int = 200):
    kind = csv_import.kind
    try:
        result = selectors.csv_import_preview(csv_import=csv_import)
    except ValidationError as unreadable:
        # Read fine at upload; only a change of the limits since then gets here.
        messages.error(request, " ".join(unreadable.messages))
        return redirect(f"{IMPORTS[kind]['prefix']}_import")
    only_errors = request.GET.get("errors") == "1"
    rows = result.error_rows if only_errors else result.rows
    page = Paginator(rows, 200).get_page(request.GET.get("page"))
    context = {
        **_import_context(kind),
        "csv_import": csv_import,
        "result": result,
        "page": page,
        "table": [(row, [row.values[c] for c in result.columns]) for row in page],
        "only_errors": only_errors,
        "counts": {
            "create": result.count("create"),
            "update": result.count("update"),
            "unchanged": result.count("unchanged"),
            "errors": len(result.error_rows),
        },
        "confirm_url": reverse(
            f"{IMPORTS[kind]['prefix']}_import_confirm", kwargs={"pk": csv_import.pk}
        ),
        "error": error,
    }
    return render(request, "dashboard/accounts/import_preview.html", context, status=status)


def _finished_import(request, csv_import: CsvImport):
    """Where a confirmed or expired upload sends its visitor, or None when it is pending."""
    if csv_import.confirmed_at is not None:
        messages.info(request, "This file has already been imported.")
        return redirect(f"{IMPORTS[csv_import.kind]['prefix']}_list")
    if services.csv_import_is_expired(csv_import):
        messages.error(request, "This upload has expired; upload the file again.")
        return redirect(f"{IMPORTS[csv_import.kind]['prefix']}_import")
    return None


@org_member_required(Role.MANAGER)
def csv_import_preview(request, kind: str, pk: int):
    csv_import = _pending_import(request, kind, pk)
    return _finished_import(request, csv_import) or _render_preview(request, csv_import)


@org_member_required(Role.MANAGER)
@require_POST
def csv_import_confirm(request, kind: str, pk: int):
    csv_import = _pending_import(request, kind, pk)
    finished = _finished_import(request, csv_import)
    if finished is not None:
        return finished
    try:
        result = services.csv_import_confirm(csv_import=csv_import)
    except ValidationError as error:
        csv_import.refresh_from_db()
        return _render_preview(request, csv_import, error=" ".join(error.messages), status=400)
    messages.success(
        request,
        f"Imported {result.created} new and updated {result.updated} {IMPORTS[kind]['title']}.",
    )
    return redirect(f"{IMPORTS[kind]['prefix']}_list")


@org_member_required(Role.OWNER)
def organization_settings(request):
    """The organization's name, time zone and what analytics counts a customer worth."""
    org = request.organization
    initial = {
        "name": org.name,
        "timezone": org.timezone,
        "gross_margin": (org.gross_margin * 100).normalize(),
        "discount_rate": (org.discount_rate * 100).normalize(),
        "horizon_years": org.horizon_years,
    }
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, _ = call_service(
            form,
            services.organization_settings_update,
            organization=org,
            name=data["name"],
            timezone_name=data["timezone"],
            gross_margin=data["gross_margin"] / 100,
            discount_rate=data["discount_rate"] / 100,
            horizon_years=data["horizon_years"],
        )
        if ok:
            messages.success(request, "Settings saved.")
            return redirect("accounts:organization_settings")
    return render_form(request, "dashboard/accounts/organization_settings.html", {"form": form})


@never_cache  # shows the secret: the browser must not keep it
@org_member_required(Role.OWNER)
def widget_settings(request):
    """The secret the business's backend signs widget tokens with: shown to owners, rotated."""
    if request.method == "POST":
        widget.widget_secret_rotate(organization=request.organization)
        messages.success(request, "New widget secret: tokens signed with the old one stop now.")
        return redirect("accounts:widget_settings")
    return render(request, "dashboard/accounts/widget_settings.html")
