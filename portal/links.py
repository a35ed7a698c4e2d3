"""
/r/<code>: a source's referral link, the friend's landing page and the thank-you page.

The GET is the hot path: a cached snapshot of the link, and the click appended to this
process's journal file (``referrals.clicks``), which ``manage.py ship_clicks`` loads into
the database in bulk: no round trip to PostgreSQL per click.
"""

from urllib.parse import urlencode, urlparse, urlunparse

from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render

from core.forms import add_form_errors
from core.http import client_ip
from referrals import clicks, services
from referrals.models import Program, ReferralLink

from .forms import LeadForm


def _with_code(url: str, code: str) -> str:
    parts = urlparse(url)
    query = parts.query + ("&" if parts.query else "") + urlencode({"ref": code})
    return urlunparse(parts._replace(query=query))


def referral_link(request, code: str):
    """/r/<code>: record the click, remember the referrer, show the offer (or redirect).

    The GET is the hot path: a cached snapshot of the link and a line in the click journal.
    """
    if request.method == "POST":
        return _leave_lead(request, code)
    snapshot = services.link_snapshot(code)
    if snapshot is None:
        return render(request, "portal/link_not_found.html", status=404)
    clicks.record(
        organization_id=snapshot.organization_id,
        link_id=snapshot.link_id,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        referer=request.META.get("HTTP_REFERER", ""),
    )
    if snapshot.landing_mode == Program.LandingMode.REDIRECT:
        response = HttpResponseRedirect(_with_code(snapshot.destination_url, snapshot.public_code))
    else:
        link = get_object_or_404(
            ReferralLink.objects.select_related("program__organization", "source"),
            pk=snapshot.link_id,
        )
        context = {"program": link.program, "link": link, "form": LeadForm()}
        response = render(request, "portal/landing.html", context)
    response.set_signed_cookie(
        services.cookie_name(snapshot.program_id),
        snapshot.public_code,
        max_age=snapshot.window_days * 86400,
        samesite="Lax",
        httponly=True,
        secure=request.is_secure(),
    )
    return response


def _leave_lead(request, code: str):
    """The friend leaves name and email on the landing page: a lead for the link's source."""
    link = services.link_resolve(code)
    if link is None:
        return render(request, "portal/link_not_found.html", status=404)
    form = LeadForm(request.POST)
    context = {"program": link.program, "link": link, "form": form}
    if form.is_valid():
        try:
            services.referral_create(
                program=link.program,
                source=link.source,
                link=link,
                channel="link",
                friend_email=form.cleaned_data["email"],
                friend_name=form.cleaned_data["name"],
                ip_hash=services.hash_ip(client_ip(request)),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                actor_label="landing page",
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            return render(request, "portal/landing_thanks.html", context)
    return render(request, "portal/landing.html", context, status=400)
