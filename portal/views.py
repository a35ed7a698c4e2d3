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
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import ReferralSource
from core.ratelimit import limit
from referrals import services as referral_services
from referrals.models import Channel, Program, ReferralLink
from rewards import selectors, services
from rewards.models import CreditAccount, Payout

from .forms import LeadForm


def _source(token: str) -> ReferralSource:
    source = get_object_or_404(
        ReferralSource.objects.with_portal_token(token).select_related("organization")
    )
    timezone.activate(source.organization.timezone)
    return source


def _programs_for(source: ReferralSource) -> list[Program]:
    programs = Program.objects.for_organization(source.organization).active().order_by("name")
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


@limit("portal")
def portal(request, token: str):
    source = _source(token)
    programs = _programs_for(source)
    links = [
        referral_services.link_get_or_create(program=program, source=source) for program in programs
    ]
    account = CreditAccount.objects.filter(source=source).first()
    context = {
        "source": source,
        "organization": source.organization,
        "links": [
            {"link": link, "url": request.build_absolute_uri(f"/r/{link.public_code}")}
            for link in links
        ],
        "referrals": source.referrals.select_related("program").order_by("-created_at")[:50],
        "account": account,
        "balance": selectors.credit_balance(account=account) if account else None,
        "lots": selectors.open_lots(account=account) if account else [],
        "payout_balance": selectors.payout_balance(account=account) if account else None,
        "payouts": Payout.objects.filter(source=source).order_by("-created_at")[:20],
        "form": IntroduceForm(programs=programs),
        "payout_key": uuid.uuid4().hex,
    }
    return render(request, "portal/portal.html", context)


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


@require_POST
@limit("portal_write")
def payout(request, token: str):
    """Ask for the payout balance to be paid; the form's key makes a double submit harmless."""
    source = _source(token)
    try:
        services.payout_request(
            source=source, idempotency_key=f"portal:{request.POST.get('key', '')[:64]}"
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Your payout is on its way.")
    return redirect("portal:home", token=token)


@limit("portal")
def qr(request, token: str, link_id: int):
    source = _source(token)
    link = get_object_or_404(ReferralLink, pk=link_id, source=source)
    body, content_type = referral_services.qr_image(
        request.build_absolute_uri(f"/r/{link.public_code}"), "svg"
    )
    return HttpResponse(body, content_type=content_type)
