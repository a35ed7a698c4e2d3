"""
/r/<code>: a source's referral link, the friend's landing page and the thank-you page.

The GET is the hot path and makes no network round trip: the link comes from this
process's memory (``referrals.linkcache``), the click goes to this process's journal file
(``referrals.clicks``, shipped to the database by ``manage.py ship_clicks``), and the
landing page is rendered once per link and process, then served with a fresh CSRF token
spliced in. bench/run measures it against a bare redirect (bench/README.md).
"""

import secrets
import time
from http.cookies import Morsel
from urllib.parse import urlencode, urlparse, urlunparse

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import timezone

from core.forms import add_form_errors
from core.http import client_ip
from core.ratelimit import LocalLimiter, refused
from core.site import base_url
from core.tasks import enqueue_on_commit
from referrals import clicks, linkcache, services
from referrals.models import Program, ReferralLink

from .forms import LeadForm

# Stands in for the CSRF token in a cached landing page. Random per process, so no landing
# text an organization writes can contain it.
_CSRF_PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"


def _with_code(url: str, code: str) -> str:
    parts = urlparse(url)
    query = parts.query + ("&" if parts.query else "") + urlencode({"ref": code})
    return urlunparse(parts._replace(query=query))


_CLICKS = LocalLimiter("link")
_READ_METHODS = frozenset({"GET", "HEAD"})
_ALLOWED_METHODS = ["GET", "HEAD", "POST"]  # POST: the landing page's form


def referral_link(request, code: str):
    """/r/<code>: record the click, remember the referrer, show the offer (or redirect).

    Only a GET is a click; a HEAD gets the same answer without one, the landing page's
    form is a POST, and any other method is a 405 that names these three.

    Rate limits: the friend's form (POST) and codes that do not exist count against the
    shared cache per address; clicks count in this process's memory, so the hot path
    makes no network round trip.
    """
    if request.method == "POST":
        return refused(request, "landing_write") or _leave_lead(request, code)
    if request.method not in _READ_METHODS:
        return HttpResponseNotAllowed(_ALLOWED_METHODS)
    too_many = _CLICKS.refused(request)
    if too_many is not None:
        return too_many
    live = linkcache.get(code)
    if live is None:
        return refused(request, "link_not_found") or render(
            request, "portal/link_not_found.html", status=404
        )
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if clicks.is_click(request.method, user_agent):
        clicks.record(
            organization_id=live.organization_id,
            link_id=live.link_id,
            ip=client_ip(request),
            user_agent=user_agent,
            referer=request.META.get("HTTP_REFERER", ""),
        )
    if live.landing_mode == Program.LandingMode.REDIRECT:
        location = live.extras.get("location")
        if location is None:
            location = live.extras["location"] = _with_code(live.destination_url, live.public_code)
        response = HttpResponse(status=302, headers={"Location": location})
    else:
        base = base_url(request)
        landing = live.extras.get(("landing", base)) or _render_landing(live, base)
        if landing is None:  # deleted since it was cached
            return render(request, "portal/link_not_found.html", status=404)
        parts, image_origin = landing
        response = HttpResponse(get_token(request).encode().join(parts))
        _allow_logo(response, image_origin)
    _set_attribution_cookie(request, response, live)
    return response


def _render_landing(live: linkcache.LiveLink, base: str) -> tuple[list[bytes], str] | None:
    """The landing page of a link, split where the visitor's CSRF token goes, and the origin
    of its logo; kept with the link in memory (dropped with it when the program, link,
    source or organization changes), once per base URL (one in production)."""
    link = (
        ReferralLink.objects.select_related("program__organization", "source")
        .filter(pk=live.link_id)
        .first()
    )
    if link is None:
        return None
    context = {
        **_page_context(link, base),
        "form": lead_form(link.program),
        "csrf_token": _CSRF_PLACEHOLDER,
    }
    html = render_to_string("portal/landing.html", context)
    parts = [part.encode() for part in html.split(_CSRF_PLACEHOLDER)]
    landing = live.extras[("landing", base)] = (parts, _origin(link.program.logo_url))
    return landing


def lead_form(program: Program, data=None) -> LeadForm:
    return LeadForm(
        data,
        consent_required=program.consent_required,
        organization_name=program.organization.name,
    )


def _page_context(link: ReferralLink, base: str) -> dict:
    """What the landing and thank-you pages show besides the form: the program's brand and
    the share preview (Open Graph and Twitter card) of the link."""
    program = link.program
    return {
        "program": program,
        "link": link,
        "canonical_url": f"{base}/r/{link.public_code}",
        "share_image": program.logo_url or f"{base}{static('img/share-default.png')}",
        "share_title": program.landing_headline or program.name,
        "share_description": program.friend_offer
        or f"{link.source.name} recommends {program.organization.name}.",
    }


def _origin(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" and parts.netloc else ""


def _allow_logo(response: HttpResponse, image_origin: str) -> None:
    """The page may load the program's logo from its own https origin (django-csp adds it
    to img-src for this response only); nothing else is loosened."""
    if image_origin:
        response._csp_update = {"img-src": [image_origin]}  # type: ignore[attr-defined]


def program_theme(request, program_id: int):
    """/r-theme/<program>.css: the program's brand colour as CSS variables, so the landing
    page needs no inline style (the Content-Security-Policy forbids it). The page links it
    with the colour in the query, so a new colour is a new URL and this may be cached."""
    color = Program.objects.filter(pk=program_id).values_list("brand_color", flat=True).first()
    if color is None:
        raise Http404
    css = ""
    if color:
        css = f".landing {{ --accent: {color}; --accent-ink: {_ink_on(color)}; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _ink_on(color: str) -> str:
    """Black or white text, whichever reads better on ``color`` (#rrggbb), by WCAG luminance."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#0f172a" if luminance > 0.4 else "#ffffff"


class _RenderedMorsel(Morsel):
    """A cookie rendered once; every response it goes on outputs that same text."""

    def OutputString(self, attrs=None):  # noqa: N802 - Morsel's name
        if attrs is None:
            return self._rendered
        return super().OutputString(attrs)

    @classmethod
    def of(cls, morsel: Morsel) -> "_RenderedMorsel":
        rendered = cls()
        rendered.set(morsel.key, morsel.value, morsel.coded_value)
        rendered.update(morsel)
        rendered._rendered = morsel.OutputString()
        return rendered


def _set_attribution_cookie(request, response, live: linkcache.LiveLink) -> None:
    """The signed first-party cookie that remembers which link brought the visitor.

    Made by ``set_signed_cookie`` and rendered once a second per link (its signature
    carries a one-second timestamp, so it would be the same), then put on each response.
    """
    name = services.cookie_name(live.program_id)
    key = (int(time.time()), request.is_secure())
    made = live.extras.get("cookie")
    if made is None or made[0] != key:
        template = HttpResponse()
        template.set_signed_cookie(
            name,
            live.public_code,
            max_age=live.window_days * 86400,
            samesite="Lax",
            httponly=True,
            secure=key[1],
        )
        made = live.extras["cookie"] = (key, name, _RenderedMorsel.of(template.cookies[name]))
    response.cookies[made[1]] = made[2]


def _leave_lead(request, code: str):
    """The friend leaves name and email on the landing page: a lead for the link's source."""
    link = services.link_resolve(code)
    if link is None:
        return render(request, "portal/link_not_found.html", status=404)
    base = base_url(request)
    form = lead_form(link.program, request.POST)
    context = {**_page_context(link, base), "form": form}
    if form.is_valid():
        started = timezone.now()
        try:
            referral = services.referral_create(
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
            add_form_errors(form, error, {"friend_name": "name", "friend_email": "email"})
        else:
            # Once per lead: sending the form again is the same referral, and the task
            # sends its email at most once per referral.
            if referral.created_at >= started:
                enqueue_on_commit(FRIEND_EMAIL_TASK, referral.pk, base)
            context["referral"] = referral
            # The name typed now: the same email again is the earlier lead, and its stored
            # name is not for whoever typed that address this time.
            context["friend_name"] = form.cleaned_data["name"]
            response = render(request, "portal/landing_thanks.html", context)
            _allow_logo(response, _origin(link.program.logo_url))
            return response
    response = render(request, "portal/landing.html", context, status=400)
    _allow_logo(response, _origin(link.program.logo_url))
    return response


FRIEND_EMAIL_TASK = "referrals.send_friend_welcome_email"
