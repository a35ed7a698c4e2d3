"""
/me/<token>: a referral source's own portal.

The token in the URL is the source's portal_token: long, random and unguessable, sent to
the source by staff. It shows the source's links (with share buttons and QR codes), the
referrals they made, their credit with its expiry dates and their payouts, and lets them
introduce a friend by email and ask for what they are owed to be paid out.
"""

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import ReferralSource
from core.money import format_money
from core.ratelimit import limit
from referrals import services as referral_services
from referrals.models import Channel, Program, ReferralLink
from rewards import selectors, services
from rewards.models import RewardRule
from rewards.words import rule_in_words_for_source

from .forms import LeadForm, PayoutDetailsForm, PayoutForm

PER_PAGE = 10


def _source(token: str) -> ReferralSource:
    source = get_object_or_404(
        ReferralSource.objects.with_portal_token(token).select_related("organization")
    )
    timezone.activate(source.organization.timezone)
    return source


def _programs_for(source: ReferralSource) -> list[Program]:
    programs = (
        selectors.programs_with_rules(organization=source.organization).active().order_by("name")
    )
    return [p for p in programs if source.kind in (p.allowed_source_kinds or [])]


class IntroduceForm(LeadForm):
    """The friend's name and email, and which of the source's programs to introduce."""

    def __init__(self, *args, programs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].label = "Your friend's name"
        self.fields["email"].label = "Your friend's email"
        self.fields["program"] = forms.TypedChoiceField(
            choices=[(p.pk, p.name) for p in programs], coerce=int, label="Program"
        )


def _page(request, queryset, param: str):
    paginator = Paginator(queryset, PER_PAGE)
    page = paginator.get_page(request.GET.get(param))

    def link(number: int) -> str:
        query = {k: v for k, v in request.GET.items() if k != param}
        query[param] = number
        return "?" + urlencode(query)

    page.previous_link = link(page.previous_page_number()) if page.has_previous() else ""
    page.next_link = link(page.next_page_number()) if page.has_next() else ""
    return page


def _details_form(source: ReferralSource, details, data=None) -> PayoutDetailsForm:
    initial = {"method": selectors.default_payout_method(source=source)}
    if details is not None:
        initial |= {
            "account_holder": details.account_holder,
            "iban": details.iban,
            "bic": details.bic,
        }
    return PayoutDetailsForm(data, initial=initial, methods=selectors.payout_methods())


def _payout_form(earnings) -> PayoutForm:
    """The payout form, with all that is payable filled in (nothing when nothing is)."""
    initial = {"key": uuid.uuid4().hex}
    if earnings.payable > 0:
        initial["amount"] = earnings.payable
    form = PayoutForm(initial=initial)
    form.fields["amount"].label = f"Amount ({earnings.currency})"
    return form


def _render_portal(request, source, *, details_form=None, status=200):
    programs = _programs_for(source)
    offers = []
    for program in programs:
        link = referral_services.link_get_or_create(program=program, source=source)
        rules = program.active_rules
        referrer = RewardRule.Beneficiary.REFERRER
        offers.append(
            {
                "link": link,
                "program": program,
                "url": referral_services.link_url(link, request),
                "earn": [rule_in_words_for_source(r) for r in rules if r.beneficiary == referrer],
                "friend_gets": [
                    rule_in_words_for_source(r) for r in rules if r.beneficiary != referrer
                ],
            }
        )
    account = selectors.credit_account_of(source=source)
    details = selectors.payout_details_of(source=source)
    earnings = selectors.source_earnings(source=source, account=account)
    context = {
        "source": source,
        "organization": source.organization,
        "offers": offers,
        "earnings": earnings,
        "referrals": _page(request, selectors.source_referrals(source=source), "referrals"),
        "payouts": _page(request, selectors.source_payouts(source=source), "payouts"),
        "account": account,
        # What can be spent now, as the lots below and the widget say (not lots past their
        # date the hourly expiry task has yet to close).
        "balance": selectors.credit_available(account=account) if account else None,
        "lots": list(selectors.open_lots(account=account)) if account else [],
        "details": details,
        "details_form": details_form or _details_form(source, details),
        "payout_form": _payout_form(earnings),
        "form": IntroduceForm(programs=programs),
    }
    return render(request, "portal/portal.html", context, status=status)


@never_cache  # the page holds the source's IBAN and its secret link: never kept
@limit("portal")
def portal(request, token: str):
    return _render_portal(request, _source(token))


@require_POST
@limit("portal_write")
def introduce(request, token: str):
    """The source introduces a friend by email; the friend gets the source's link."""
    source = _source(token)
    programs = _programs_for(source)
    form = IntroduceForm(request.POST, programs=programs)
    if form.is_valid():
        program = next(p for p in programs if p.pk == form.cleaned_data["program"])
        try:
            referral_services.referral_create(
                program=program,
                source=source,
                channel=Channel.EMAIL,
                friend_email=form.cleaned_data["email"],
                friend_name=form.cleaned_data["name"],
                ip_hash=referral_services.hash_ip(request.META.get("REMOTE_ADDR", "")),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                actor_label="source portal",
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"We sent {form.cleaned_data['name']} an introduction.")
            return redirect("portal:home", token=token)
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return redirect("portal:home", token=token)


@never_cache  # its 400 is the portal again, IBAN and all
@require_POST
@limit("portal_write")
def payout_details(request, token: str):
    """The source keeps its payout method and bank details; a bad IBAN is a field error."""
    source = _source(token)
    form = _details_form(source, None, request.POST)
    if form.is_valid():
        try:
            services.payout_details_update(source=source, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Your payout details are saved.")
            return redirect("portal:home", token=token)
    return _render_portal(request, source, details_form=form, status=400)


@require_POST
@limit("portal_write")
def payout(request, token: str):
    """Ask for a chosen amount of what is payable to be paid, by the method the source
    chose; the form's key makes a double submit one payout."""
    source = _source(token)
    form = PayoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the amount to pay out.")
        return redirect("portal:home", token=token)
    try:
        services.payout_request(
            source=source,
            amount=form.cleaned_data["amount"] or None,
            idempotency_key=f"portal:{source.pk}:{form.cleaned_data['key']}",
            require_bank_account=True,
        )
    except ValidationError as error:
        account = selectors.credit_account_of(source=source)
        earnings = selectors.source_earnings(source=source, account=account)
        # Nothing payable (or a debt) is said to the source in its own words.
        messages.error(
            request,
            _nothing_payable(earnings) if earnings.payable <= 0 else " ".join(error.messages),
        )
    else:
        messages.success(request, "Your payout is on its way.")
    return redirect("portal:home", token=token)


def _nothing_payable(earnings) -> str:
    if earnings.debt > 0:
        return (
            f"Nothing to pay out now: you owe {format_money(earnings.debt, earnings.currency)} "
            "from a reward taken back after it was paid, which your next rewards settle first."
        )
    return "Nothing to pay out now. Approved cash and gift-card rewards can be paid out."


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


@limit("portal")
def qr(request, token: str, link_id: int):
    source = _source(token)
    link = get_object_or_404(ReferralLink, pk=link_id, source=source)
    body, content_type = referral_services.qr_image(
        referral_services.link_url(link, request), "svg"
    )
    return HttpResponse(body, content_type=content_type)
