"""The rewards dashboard: rules, rewards and their history, balances, payouts.

Every view takes the organization from ``org_member_required``: analysts read, managers and
owners write (analysts get a 403 on a write), and another organization's object is a 404.
"""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.tenancy import org_member_required
from core.forms import call_service, render_form
from core.tasks import enqueue_on_commit
from dashboard.pagination import paginate
from referrals.models import Program
from rewards import selectors, services
from rewards.models import CreditAccount, Payout, Reward
from rewards.providers import get_provider

from .forms import (
    AdjustmentForm,
    ManualRewardForm,
    MarkPaidForm,
    PayoutBatchForm,
    PayoutRequestForm,
    RewardRuleForm,
    VoidForm,
)


def _back(request, default: str, **kwargs):
    """Return to the page the action was taken from (a list or the detail), if it is ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default, **kwargs)


# Rules ----------------------------------------------------------------------------------


@org_member_required(Role.MANAGER)
def rule_create(request, program_pk: int):
    program = get_object_or_404(
        Program.objects.for_organization(request.organization), pk=program_pk
    )
    form = RewardRuleForm(request.POST or None, program=program)
    if request.method == "POST" and request.htmx:
        return HttpResponse(escape(form.words()))  # the sentence, nothing saved
    if request.method == "POST" and form.is_valid():
        ok, _ = call_service(form, services.rule_create, program=program, **form.cleaned_data)
        if ok:
            messages.success(request, "Reward rule added.")
            return redirect("referrals:program_detail", pk=program.pk)
    context = {
        "form": form,
        "program": program,
        "words_url": request.path,
        "words": form.words(),
    }
    return render_form(request, "dashboard/rewards/rule_form.html", context)


# Rewards --------------------------------------------------------------------------------


@org_member_required()
def reward_list(request):
    status = request.GET.get("status", "")
    qs = selectors.reward_list(organization=request.organization, status=status)
    page = paginate(qs, request.GET.get("page"))
    return render(
        request,
        "dashboard/rewards/reward_list.html",
        {
            "page": page,
            "status": status,
            "statuses": Reward.Status.choices,
            "totals": selectors.reward_totals(qs),
        },
    )


def _reward_or_404(request, pk: int) -> Reward:
    reward = selectors.reward_get(organization=request.organization, pk=pk)
    if reward is None:
        raise Http404("No such reward.")
    return reward


def _render_reward_detail(request, reward: Reward, *, void_form=None, status: int = 200):
    return render(
        request,
        "dashboard/rewards/reward_detail.html",
        {"reward": reward, "void_form": void_form or VoidForm()},
        status=status,
    )


@org_member_required()
def reward_detail(request, pk: int):
    return _render_reward_detail(request, _reward_or_404(request, pk))


@require_POST
@org_member_required(Role.MANAGER)
def reward_approve(request, pk: int):
    reward = get_object_or_404(Reward.objects.for_organization(request.organization), pk=pk)
    if reward.status != Reward.Status.PENDING:
        messages.warning(request, "Only a pending reward can be approved.")
    else:
        reward = services.reward_approve(reward=reward, actor=request.user)
        if reward.status == Reward.Status.VOID:
            messages.warning(
                request, f"Nothing to give: the reward is void ({reward.void_reason})."
            )
        else:
            messages.success(request, "Reward approved.")
    return _back(request, "rewards:reward_detail", pk=reward.pk)


@require_POST
@org_member_required(Role.MANAGER)
def reward_void(request, pk: int):
    reward = get_object_or_404(Reward.objects.for_organization(request.organization), pk=pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        ok, _ = call_service(
            form,
            services.reward_void,
            reward=reward,
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        if ok:
            messages.success(request, "Reward voided.")
            return _back(request, "rewards:reward_detail", pk=reward.pk)
    return _render_reward_detail(request, _reward_or_404(request, pk), void_form=form, status=400)


@org_member_required(Role.MANAGER)
def reward_grant(request):
    initial = {k: request.GET[k] for k in ("source", "contribution", "note") if k in request.GET}
    form = ManualRewardForm(
        request.POST or None, initial=initial, organization=request.organization
    )
    if request.method == "POST" and form.is_valid():
        ok, reward = call_service(
            form,
            services.reward_grant_manual,
            organization=request.organization,
            actor=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, "Reward granted.")
            return redirect("rewards:reward_detail", pk=reward.pk)
    return render_form(request, "dashboard/rewards/reward_grant.html", {"form": form})


# Balances -------------------------------------------------------------------------------


@org_member_required()
def account_list(request):
    holder = request.GET.get("holder", "")
    qs = selectors.account_list(organization=request.organization, holder=holder)
    page = paginate(qs, request.GET.get("page"))
    return render(request, "dashboard/rewards/account_list.html", {"page": page, "holder": holder})


def _render_account_detail(
    request, account: CreditAccount, *, form=None, adjust_form=None, status: int = 200
):
    return render(
        request,
        "dashboard/rewards/account_detail.html",
        {
            "account": account,
            "credit": selectors.credit_balance(account=account),
            "available": selectors.credit_available(account=account),
            "owed": selectors.payout_balance(account=account),
            "lots": selectors.account_lots(account=account)[:200],
            "entries": selectors.account_entries(account=account)[:100],
            "balance_entries": selectors.account_balance_entries(account=account)[:100],
            "payouts": account.payouts.all()[:20],
            "payout_form": form or PayoutRequestForm(),
            "adjust_form": adjust_form or AdjustmentForm(),
            "adjust_key": request.POST.get("adjust_key") or uuid.uuid4().hex,
            # One key per rendered form: a double submit requests one payout.
            "payout_key": request.POST.get("idempotency_key") or f"dashboard:{uuid.uuid4().hex}",
            "now": timezone.now(),
        },
        status=status,
    )


def _account_or_404(request, pk: int) -> CreditAccount:
    account = selectors.account_get(organization=request.organization, pk=pk)
    if account is None:
        raise Http404("No such account.")
    return account


@org_member_required()
def account_detail(request, pk: int):
    return _render_account_detail(request, _account_or_404(request, pk))


@require_POST
@org_member_required(Role.MANAGER)
def payout_request(request, pk: int):
    """Staff request a payout on behalf of a source."""
    account = _account_or_404(request, pk)
    if account.source is None:
        raise Http404("Only a source is paid out.")
    form = PayoutRequestForm(request.POST)
    if form.is_valid():
        ok, _ = call_service(
            form,
            services.payout_request,
            source=account.source,
            method=form.cleaned_data["method"],
            idempotency_key=request.POST.get("idempotency_key", ""),
            actor=request.user,
        )
        if ok:
            messages.success(request, "Payout requested.")
            return redirect("rewards:payout_list")
    return _render_account_detail(request, account, form=form, status=400)


@require_POST
@org_member_required(Role.MANAGER)
def credit_adjust(request, pk: int):
    """Staff add or take away credit with a reason: an adjustment entry, never an edit."""
    account = _account_or_404(request, pk)
    form = AdjustmentForm(request.POST)
    if form.is_valid():
        ok, _ = call_service(
            form,
            services.credit_adjust,
            account=account,
            amount=form.cleaned_data["amount"],
            note=form.cleaned_data["note"],
            idempotency_key=request.POST.get("adjust_key", ""),
            actor=request.user,
        )
        if ok:
            messages.success(request, "Credit adjusted.")
            return redirect("rewards:account_detail", pk=account.pk)
    return _render_account_detail(request, account, adjust_form=form, status=400)


# Payouts --------------------------------------------------------------------------------


@org_member_required()
def payout_list(request):
    status = request.GET.get("status", "")
    qs = selectors.payout_list(organization=request.organization, status=status)
    page = paginate(qs, request.GET.get("page"))
    return render(
        request,
        "dashboard/rewards/payout_list.html",
        {
            "page": page,
            "status": status,
            "statuses": Payout.Status.choices,
            "batch_form": PayoutBatchForm(),
            "awaiting_transfer": selectors.bank_transfers_awaiting(
                organization=request.organization
            ).count(),
            "max_attempts": services.payout_max_attempts(),
            "totals": selectors.payout_totals(qs),
        },
    )


@org_member_required(Role.MANAGER)
def payout_batch(request):
    """Who a payout batch would pay, how much and by which method; confirming runs it.

    The confirmation carries the preview's fingerprint: when a balance changed in the
    meantime, staff see the new preview instead of paying what they did not see.
    """
    form = PayoutBatchForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, "Choose a valid payout method.")
        return redirect("rewards:payout_list")
    method = form.cleaned_data["method"]
    preview = selectors.payout_batch_preview(organization=request.organization, method=method)
    if request.method == "POST":
        if form.cleaned_data["fingerprint"] != preview.fingerprint:
            messages.warning(request, "Balances changed since the preview: check it again.")
        elif not preview.rows:
            messages.info(request, "Nobody is owed money: there is nothing to pay.")
            return redirect("rewards:payout_list")
        else:
            enqueue_on_commit(
                "rewards.start_payout_batch",
                request.organization.pk,
                uuid.uuid4().hex,
                method,
                actor_id=request.user.pk,
                source_ids=preview.source_ids,
            )
            messages.success(
                request,
                f"Payout batch started for {len(preview.rows)} sources: payouts appear here "
                "as they are requested.",
            )
            return redirect("rewards:payout_list")
    return render(
        request,
        "dashboard/rewards/payout_batch.html",
        {"preview": preview, "method": method},
        status=409 if request.method == "POST" else 200,
    )


@require_POST
@org_member_required(Role.MANAGER)
def payout_retry(request, pk: int):
    payout = get_object_or_404(Payout.objects.for_organization(request.organization), pk=pk)
    try:
        services.payout_retry(payout=payout, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Payout {payout.pk} will be tried again.")
    return redirect("rewards:payout_list")


@require_POST
@org_member_required(Role.MANAGER)
def payout_mark_paid(request, pk: int):
    payout = get_object_or_404(Payout.objects.for_organization(request.organization), pk=pk)
    form = MarkPaidForm(request.POST)
    reference = form.cleaned_data["reference"] if form.is_valid() else ""
    try:
        services.payout_mark_paid(payout=payout, actor=request.user, reference=reference)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Payout {payout.pk} marked paid.")
    return redirect("rewards:payout_list")


@org_member_required()
def bank_transfer_csv(request):
    """The bank transfers waiting for the finance team, as CSV (dates in the org's zone)."""
    payouts = selectors.bank_transfers_awaiting(organization=request.organization)
    body = get_provider(Payout.Method.BANK_TRANSFER).csv(payouts)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = f"bank-transfers-{request.organization.slug}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
