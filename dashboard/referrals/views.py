from csp.decorators import csp_replace
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from accounts.models import ReferralSource, Role
from accounts.tenancy import org_member_required
from core.forms import add_form_errors, call_service, render_form
from core.site import base_url
from core.tasks import waiting
from dashboard.pagination import COUNT_CAP, paginate
from referrals import selectors, services
from referrals.models import Program, Referral, ReferralLink
from rewards import services as reward_services
from rewards.notifications import program_email_preview as program_email_preview_render

from .forms import (
    ConversionForm,
    EventForm,
    IntroductionForm,
    LinkForm,
    ProgramForm,
    RejectForm,
)

# Programs -------------------------------------------------------------------------------


@org_member_required()
def program_list(request):
    programs = selectors.program_list(organization=request.organization, cap=COUNT_CAP)
    return render(
        request,
        "dashboard/referrals/program_list.html",
        {"programs": programs, "cap": COUNT_CAP},
    )


@org_member_required(Role.MANAGER)
def program_create(request):
    form = ProgramForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, program = call_service(
            form, services.program_create, organization=request.organization, **form.cleaned_data
        )
        if ok:
            messages.success(request, "Program created. Add a reward rule and share links.")
            return redirect("referrals:program_detail", pk=program.pk)
    return render_form(request, "dashboard/referrals/program_form.html", {"form": form})


@org_member_required(Role.MANAGER)
def program_edit(request, pk: int):
    program = get_object_or_404(Program.objects.for_organization(request.organization), pk=pk)
    form = ProgramForm(request.POST or None, instance=program)
    if request.method == "POST" and form.is_valid():
        ok, _ = call_service(form, services.program_update, program=program, **form.cleaned_data)
        if ok:
            messages.success(request, "Program saved.")
            return redirect("referrals:program_detail", pk=program.pk)
    return render_form(
        request, "dashboard/referrals/program_form.html", {"form": form, "program": program}
    )


@org_member_required()
def program_detail(request, pk: int):
    program = get_object_or_404(
        Program.objects.for_organization(request.organization).select_related("organization"), pk=pk
    )
    query = request.GET.get("q", "").strip()
    links = selectors.link_list(program=program)
    if query:
        links = links.filter(source__name__icontains=query)
    page = paginate(links, request.GET.get("page"))
    rules = list(program.reward_rules.all())
    context = {
        "program": program,
        "page": page,
        "q": query,
        "rules": rules,
        "link_form": LinkForm(organization=request.organization),
        # Links to list means sources to link: only an empty page asks the database.
        "has_sources": bool(page.object_list)
        or ReferralSource.objects.for_organization(request.organization).active().exists(),
        "email_previews": [
            {
                "kind": kind,
                "label": label,
                "email": program_email_preview_render(
                    program=program, kind=kind, base=base_url(request), rules=rules
                ),
            }
            for kind, label in (("friend", "To the friend"), ("source", "To the source"))
        ],
    }
    return render(request, "dashboard/referrals/program_detail.html", context)


# An email's HTML styles itself inline (mail clients drop stylesheets), so the preview, shown
# in a sandboxed frame of the program's page, allows inline style and that page as its frame.
@csp_replace(
    {
        "style-src": ["'unsafe-inline'"],
        "img-src": ["'self'", "https:"],
        "frame-ancestors": ["'self'"],
    }
)
@xframe_options_sameorigin
@org_member_required()
def program_email_preview(request, pk: int, kind: str):
    """The program's friend or source email, with its own subject and opening, as HTML."""
    program = get_object_or_404(Program.objects.for_organization(request.organization), pk=pk)
    email = program_email_preview_render(program=program, kind=kind, base=base_url(request))
    return HttpResponse(email.html)


@org_member_required(Role.MANAGER)
@require_POST
def link_create(request, pk: int):
    program = get_object_or_404(Program.objects.for_organization(request.organization), pk=pk)
    form = LinkForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            link = services.link_get_or_create(program=program, source=form.cleaned_data["source"])
            messages.success(request, f"Link for {link.source.name}: /r/{link.public_code}")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, "Choose a source.")
    return redirect("referrals:program_detail", pk=program.pk)


def _link_for(request, pk: int) -> ReferralLink:
    return get_object_or_404(
        ReferralLink.objects.for_organization(request.organization).select_related(
            "program", "source"
        ),
        pk=pk,
    )


def _public_url(request, link: ReferralLink) -> str:
    return services.link_url(link, request)


@org_member_required()
def link_qr(request, pk: int, fmt: str):
    """The link's QR code, as SVG (for print) or PNG (for chat apps and documents)."""
    link = _link_for(request, pk)
    body, content_type = services.qr_image(_public_url(request, link), fmt)
    response = HttpResponse(body, content_type=content_type)
    if request.GET.get("download"):
        filename = f"advocate-{link.public_code}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@org_member_required()
def link_card(request, pk: int):
    """A printable card: the source's QR code, link and the friend's offer."""
    link = _link_for(request, pk)
    return render(
        request,
        "dashboard/referrals/link_card.html",
        {"link": link, "url": _public_url(request, link)},
    )


@org_member_required(Role.MANAGER)
@require_POST
def link_vanity(request, pk: int):
    link = _link_for(request, pk)
    try:
        services.link_set_vanity_code(link=link, vanity_code=request.POST.get("vanity_code", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The link is now /r/{link.public_code}")
    return redirect("referrals:program_detail", pk=link.program_id)


# Referrals ------------------------------------------------------------------------------


@org_member_required()
def referral_list(request):
    status = request.GET.get("status", "")
    qs = selectors.referral_list(organization=request.organization, status=status)
    page = paginate(qs, request.GET.get("page"))
    return render(
        request,
        "dashboard/referrals/referral_list.html",
        {"page": page, "status": status, "statuses": Referral.Status.choices},
    )


@org_member_required()
def review_queue(request):
    referrals = selectors.review_queue(organization=request.organization)[:200]
    return render(request, "dashboard/referrals/review_queue.html", {"referrals": referrals})


@org_member_required(Role.MANAGER)
def introduction_create(request):
    form = IntroductionForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, referral = call_service(
            form,
            services.referral_create,
            program=data["program"],
            source=data["source"],
            channel=data["channel"],
            friend_email=data["friend_email"],
            friend_name=data["friend_name"],
            friend_phone=data["friend_phone"],
            actor=request.user,
        )
        if ok:
            messages.success(request, "Introduction recorded.")
            return redirect("referrals:referral_detail", pk=referral.pk)
    return render_form(request, "dashboard/referrals/introduction_form.html", {"form": form})


def _referral_for(request, pk: int) -> Referral:
    return get_object_or_404(
        Referral.objects.for_organization(request.organization).select_related(
            "program", "source", "friend", "link"
        ),
        pk=pk,
    )


@org_member_required()
def referral_detail(request, pk: int, conversion_form=None, status=200):
    referral = _referral_for(request, pk)
    context = {
        "referral": referral,
        "events": referral.events.select_related("actor"),
        "conversions": selectors.referral_conversions(referral=referral),
        "conversion_form": conversion_form or ConversionForm(),
        "reject_form": RejectForm(),
    }
    return render(request, "dashboard/referrals/referral_detail.html", context, status=status)


def _reward_follows(request, conversion) -> None:
    """Tell staff when the task queue could not take the reward task yet (Redis is down):
    the outbox keeps it, and the reward is issued once the queue is back."""
    if conversion is not None and waiting(services.REWARD_TASK, conversion.pk):
        messages.warning(
            request,
            "The task queue is unreachable right now: the event is saved and its reward "
            "will follow automatically once the queue is back.",
        )


@org_member_required(Role.MANAGER)
@require_POST
def conversion_create(request, pk: int):
    """Staff record a signup, purchase, refund or advocacy for a referral."""
    referral = _referral_for(request, pk)
    form = ConversionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            conversion, created = services.conversion_record(
                referral=referral,
                kind=data["kind"],
                external_id=data["external_id"],
                amount=data["amount"],
                occurred_at=data["occurred_at"],
                refund_of_external_id=data["refund_of"],
                actor=request.user,
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            _event_message(request, conversion, created, data["external_id"])
            _reward_follows(request, conversion)
            return redirect("referrals:referral_detail", pk=referral.pk)
    return referral_detail(request, pk, conversion_form=form, status=400)


def _event_message(request, conversion, created: bool, external_id: str) -> None:
    if not created:
        messages.info(request, f"Event {external_id.strip()} was already recorded.")
    elif conversion is None:
        messages.warning(
            request, "Recorded. No referral covers this customer: no source is credited."
        )
    elif not conversion.referral.is_credited:
        why = "is held for review" if conversion.referral.flagged else "was rejected"
        messages.warning(
            request,
            f"Recorded. The referral by {conversion.source.name} {why}: nothing is credited "
            "or rewarded unless it is approved.",
        )
    else:
        name = conversion.source.name
        messages.success(request, f"{conversion.get_kind_display()} credited to {name}.")


_CODE_UNUSABLE = {
    services.CODE_NEEDS_EMAIL: "A referral by code needs the customer's email: add it, or "
    "leave the code empty to record the event without it.",
}


def _code_usable(request, form: EventForm) -> bool:
    """Staff type the code by hand: one that would be set aside (unknown, not live, or for a
    customer without an email) is a form error they can correct, and nothing is recorded.
    The API, fed by machines, records such an event without the code and says so."""
    data = form.cleaned_data
    if not data.get("code"):
        return True
    problems = services.code_warnings(
        organization=request.organization,
        kind=data["kind"],
        email=data.get("email", ""),
        customer_external_id=data.get("customer_external_id", ""),
        code=data["code"],
    )
    for problem in problems:
        form.add_error(
            "code",
            _CODE_UNUSABLE.get(
                problem.code,
                "Unknown or inactive referral code (its program paused or ended, its source "
                "inactive, or renamed): correct it, or leave it empty to record the event "
                "without it.",
            ),
        )
    return not problems


@org_member_required(Role.MANAGER)
def event_create(request):
    """Record a signup, purchase, refund or advocacy for a customer; attribution finds the
    referral (the API uses the same service)."""
    form = EventForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _code_usable(request, form):
        warnings: list[services.CodeWarning] = []
        try:
            conversion, created = services.event_record(
                organization=request.organization,
                actor=request.user,
                warnings=warnings,
                **form.cleaned_data,
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            for warning in warnings:  # the code died since it was checked: recorded without it
                messages.warning(request, warning.message)
            _event_message(request, conversion, created, form.cleaned_data["external_id"])
            if conversion is None:
                return redirect("referrals:event_create")
            _reward_follows(request, conversion)
            return redirect("referrals:referral_detail", pk=conversion.referral_id)
    return render_form(request, "dashboard/referrals/event_form.html", {"form": form})


@org_member_required(Role.MANAGER)
@require_POST
def referral_reject(request, pk: int):
    referral = _referral_for(request, pk)
    form = RejectForm(request.POST)
    if form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            with transaction.atomic():
                referral = services.referral_reject(
                    referral=referral, reason=reason, actor=request.user
                )
                voided = reward_services.rewards_void_for_rejected_referral(
                    referral=referral, reason=reason, actor=request.user
                )
            held = f" {len(voided)} held reward(s) voided." if voided else ""
            messages.success(request, f"Referral rejected.{held}")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, "Say why the referral is rejected.")
    if request.POST.get("from") == "queue":
        return redirect("referrals:review_queue")
    return redirect("referrals:referral_detail", pk=referral.pk)


@org_member_required(Role.MANAGER)
@require_POST
def referral_approve(request, pk: int):
    referral = _referral_for(request, pk)
    try:
        services.referral_approve(referral=referral, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Referral approved: what it brought now counts and is rewarded.")
    if request.POST.get("next") == "detail":
        return redirect("referrals:referral_detail", pk=referral.pk)
    return redirect("referrals:review_queue")
