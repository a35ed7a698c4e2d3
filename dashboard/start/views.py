"""The first-program wizard and test mode, under /app/start/.

Your business (``accounts:onboarding``) -> offer and rewards -> first sources -> your links.
A new organization lands here after sign-up; every step is an ordinary page that calls
the same services as the rest of the dashboard, so what the wizard makes is what the
program, rule and source pages make. Test mode runs the whole flow in the organization's
test twin (``rewards.services.testmode``).
"""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.models import ReferralSource, Role
from accounts.tenancy import org_member_required, switch_organization
from core.forms import render_form
from core.site import base_url
from dashboard.rewards.forms import RewardRuleForm
from referrals import services as referral_services
from referrals.models import Conversion, Program, Referral, ReferralLink
from rewards import services as reward_services
from rewards.models import Reward
from rewards.services.testmode import start_test_mode, twin_of

from .forms import OfferForm, SourceRowFormSet

STEPS = ["Your business", "Offer and rewards", "First sources", "Your links"]

RULE_DEFAULTS = {
    "beneficiary": "referrer",
    "trigger": "first_purchase",
    "formula": "fixed",
    "amount": Decimal("20.00"),
    "reward_kind": "credit",
    "hold_days": 30,
    "credit_lifetime_days": 365,
}


def wizard_steps(current: int) -> list[dict]:
    return [
        {"number": n, "label": label, "done": n < current, "current": n == current}
        for n, label in enumerate(STEPS, start=1)
    ]


def _program_for(request, pk: int) -> Program:
    return get_object_or_404(Program.objects.for_organization(request.organization), pk=pk)


@org_member_required(Role.MANAGER)
def offer(request):
    """Step 2: the program's offer and the referrer's reward, with a live preview."""
    offer_form = OfferForm(
        request.POST or None,
        organization=request.organization,
        initial={"name": "Refer a friend", "landing_headline": "A gift from a friend"},
    )
    rule_form = RewardRuleForm(
        request.POST or None, program=offer_form.instance, prefix="rule", initial=RULE_DEFAULTS
    )
    if request.method == "POST" and request.htmx:
        offer_form.is_valid()  # the program as far as it is filled in, nothing saved
        return render(
            request,
            "dashboard/start/_preview.html",
            {"program": offer_form.instance, "words": rule_form.words()},
        )
    if request.method == "POST" and offer_form.is_valid() and rule_form.is_valid():
        try:
            with transaction.atomic():
                program = referral_services.program_create(
                    organization=request.organization, **offer_form.cleaned_data
                )
                reward_services.rule_create(program=program, **rule_form.cleaned_data)
        except ValidationError as error:
            rule_form.add_error(None, error)
        else:
            messages.success(request, f"{program.name} is live.")
            return redirect("start:sources", pk=program.pk)
    context = {
        "steps": wizard_steps(2),
        "offer_form": offer_form,
        "form": rule_form,
        "program": offer_form.instance,
        "words": rule_form.words(),
    }
    return render_form(request, "dashboard/start/offer.html", context)


@org_member_required(Role.MANAGER)
def sources(request, pk: int):
    """Step 3: the first sources, typed as rows (or imported); each gets its link in the
    program and, with an email, the invitation to its portal."""
    program = _program_for(request, pk)
    rows = SourceRowFormSet(request.POST or None, prefix="sources")
    if request.method == "POST" and rows.is_valid():
        filled = [row.cleaned_data for row in rows if row.is_filled]
        if not filled:
            rows._non_form_errors = rows.error_class(
                ["Add at least one source (a name is enough), or import them from a CSV file."]
            )
        else:
            try:
                with transaction.atomic():
                    invited = _add_sources(request, program, filled)
            except ValidationError as error:
                rows._non_form_errors = rows.error_class(error.messages)
            else:
                count = len(filled)
                added = f"{count} source{'s' if count != 1 else ''} added, each with a link."
                if invited:
                    added += f" Portal invitations are on their way to {invited} of them."
                messages.success(request, added)
                return redirect("start:done", pk=program.pk)
    context = {
        "steps": wizard_steps(3),
        "program": program,
        "rows": rows,
        "has_sources": ReferralSource.objects.for_organization(request.organization).exists(),
    }
    # Back on the page after a post means the rows were refused.
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/start/sources.html", context, status=status)


def _add_sources(request, program: Program, filled: list[dict]) -> int:
    invited = 0
    for data in filled:
        source = account_services.source_create(
            organization=request.organization,
            name=data["name"],
            email=data["email"] or "",
            kind=data["kind"],
        )
        referral_services.link_get_or_create(program=program, source=source)
        if source.email:
            account_services.source_portal_link_send(source=source)
            invited += 1
    return invited


@org_member_required()
def done(request, pk: int):
    """Step 4: the program's links, ready to share, and the way to try one as a test."""
    program = _program_for(request, pk)
    links = (
        ReferralLink.objects.filter(program=program).select_related("source").order_by("pk")[:50]
    )
    without_link = (
        ReferralSource.objects.for_organization(request.organization)
        .active()
        .filter(kind__in=program.allowed_source_kinds or [])
        .exclude(links__program=program)
        .count()
    )
    context = {
        "steps": wizard_steps(4),
        "program": program,
        "links": links,
        "without_link": without_link,
    }
    return render(request, "dashboard/start/done.html", context)


@org_member_required(Role.MANAGER)
@require_POST
def links_create(request, pk: int):
    """Give every active source the program accepts its link, and those with an email their
    portal invitation, as typed sources get them (after a CSV import)."""
    program = _program_for(request, pk)
    made, invited = referral_services.program_links_create(
        program=program, base_url=base_url(request)
    )
    messages.success(
        request, f"{made} link(s) created; {invited} portal invitation(s) on their way."
    )
    return redirect("start:done", pk=program.pk)


# Test mode ------------------------------------------------------------------------------


class TestPurchaseForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), initial=Decimal("100.00")
    )


@org_member_required(Role.OWNER)
@require_POST
def test_start(request):
    """Open (or refresh) the organization's test twin and work in it."""
    try:
        twin, _ = start_test_mode(organization=request.organization, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("start:test_run")
    switch_organization(request, twin.pk)
    messages.success(request, "You are in test mode: nothing here counts or is paid out.")
    return redirect("start:test_run")


@org_member_required()
def test_run(request):
    """The test run: the test links, the test referrals with a button to record a test
    purchase, and the rewards they earned (refreshed by htmx while one is on its way)."""
    organization = request.organization
    if not organization.is_test:
        context = {"twin": twin_of(organization)}
        return render(request, "dashboard/start/test_intro.html", context)
    referrals = list(
        Referral.objects.for_organization(organization)
        .select_related("program", "source")
        .order_by("-created_at")[:20]
    )
    rewards = list(
        Reward.objects.for_organization(organization)
        .select_related("source", "customer", "rule")
        .order_by("-created_at")[:20]
    )
    bought = set(
        Conversion.objects.filter(
            referral__in=referrals, kind=Conversion.Kind.PURCHASE
        ).values_list("referral_id", flat=True)
    )
    context = {
        "links": ReferralLink.objects.for_organization(organization)
        .filter(program__status=Program.Status.ACTIVE)
        .select_related("program", "source")
        .order_by("program__name")[:20],
        "referrals": referrals,
        "rewards": rewards,
        "bought": bought,
        "waiting": bool(bought) and not rewards,
    }
    template = "dashboard/start/_test_results.html" if request.htmx else "dashboard/start/test.html"
    return render(request, template, context)


@org_member_required(Role.MANAGER)
@require_POST
def test_purchase(request, pk: int):
    """Record a test purchase for a test referral: it runs through the real attribution and
    reward rules, in the test organization."""
    if not request.organization.is_test:
        raise Http404("Test purchases are recorded in test mode.")
    referral = get_object_or_404(Referral.objects.for_organization(request.organization), pk=pk)
    form = TestPurchaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the purchase an amount above zero.")
        return redirect("start:test_run")
    try:
        referral_services.conversion_record(
            referral=referral,
            kind=Conversion.Kind.PURCHASE,
            external_id=f"test-{uuid.uuid4().hex[:12]}",
            amount=form.cleaned_data["amount"],
            actor=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Test purchase recorded. Its reward follows in a moment.")
    return redirect("start:test_run")
