from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import InvitationForm, OrganizationForm, RoleForm, SourceForm
from .models import Invitation, Membership, ReferralSource, Role, SourceKind
from .tenancy import current_membership, org_member_required, switch_organization


def add_form_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form, field by field where it names fields."""
    if hasattr(error, "error_dict"):
        for field, errs in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error.messages)


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
        messages.success(request, f"{organization.name} is ready. Create your first program.")
        return redirect("referrals:program_list")
    return render(
        request, "accounts/onboarding.html", {"form": form, "has_org": current_membership(request)}
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
            try:
                invitation = services.invitation_create(
                    organization=request.organization,
                    email=invite_form.cleaned_data["email"],
                    role=invite_form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except ValidationError as error:
                add_form_errors(invite_form, error)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("accounts:members")
    context = {
        "members": selectors.member_list(organization=request.organization),
        "invitations": Invitation.objects.for_organization(request.organization).filter(
            accepted_at__isnull=True
        ),
        "invite_form": invite_form,
        "is_owner": is_owner,
        "roles": Role.choices,
    }
    return render(
        request, "accounts/members.html", context, status=400 if invite_form.errors else 200
    )


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


def invitation_accept(request, token: str):
    invitation = get_object_or_404(Invitation, token=token)
    if not request.user.is_authenticated:
        request.session["invitation_token"] = token
        return render(request, "accounts/invitation.html", {"invitation": invitation})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("accounts:invitation_accept", token=token)
        switch_organization(request, membership.organization_id)
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("analytics:overview")
    return render(request, "accounts/invitation.html", {"invitation": invitation})


# Sources --------------------------------------------------------------------------------


@org_member_required()
def source_list(request):
    kind = request.GET.get("kind", "")
    query = request.GET.get("q", "").strip()
    qs = selectors.source_list(organization=request.organization, kind=kind, query=query)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/source_list.html",
        {"page": page, "kinds": SourceKind.choices, "kind": kind, "q": query},
    )


@org_member_required(Role.MANAGER)
def source_create(request):
    form = SourceForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        try:
            source = services.source_create(organization=request.organization, **form.cleaned_data)
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            messages.success(request, f"Source {source.name} added.")
            return redirect("accounts:source_detail", pk=source.pk)
    return render(
        request, "accounts/source_form.html", {"form": form}, status=400 if form.errors else 200
    )


@org_member_required(Role.MANAGER)
def source_edit(request, pk: int):
    source = get_object_or_404(ReferralSource.objects.for_organization(request.organization), pk=pk)
    form = SourceForm(request.POST or None, instance=source, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        try:
            services.source_update(source=source, **form.cleaned_data)
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            messages.success(request, "Source saved.")
            return redirect("accounts:source_detail", pk=source.pk)
    return render(
        request,
        "accounts/source_form.html",
        {"form": form, "source": source},
        status=400 if form.errors else 200,
    )


@org_member_required()
def source_detail(request, pk: int):
    source = get_object_or_404(
        ReferralSource.objects.for_organization(request.organization).select_related("customer"),
        pk=pk,
    )
    links = source.links.select_related("program").order_by("program__name")
    referrals = source.referrals.select_related("program").order_by("-created_at")[:50]
    return render(
        request,
        "accounts/source_detail.html",
        {"source": source, "links": links, "referrals": referrals},
    )


@org_member_required()
def customer_list(request):
    query = request.GET.get("q", "").strip()
    qs = selectors.customer_list(organization=request.organization, query=query)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/customer_list.html", {"page": page, "q": query})
