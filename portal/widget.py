"""
/widget.js: the embeddable box a business puts on its own site.

The business's backend signs a short-lived token for its signed-in customer
(``accounts.widget``); the script sends it to ``/widget/data`` and shows that customer's
share link, copy and share buttons and credit. Both answer any origin (CORS, no cookies):
the token is the only credential. A bad or expired token gets an empty 403 and the reason
goes to the log, never to the page.
"""

from functools import lru_cache
from urllib.parse import urljoin

from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from accounts import services as account_services
from accounts.models import Customer
from accounts.tenancy import org_member_required
from accounts.widget import customer_for_token, make_token
from core.money import ZERO, format_money
from core.ratelimit import refused
from core.site import base_url
from referrals import selectors as referral_selectors
from referrals import services as referral_services
from rewards import selectors as reward_selectors
from rewards.models import CreditAccount

CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}


@lru_cache(maxsize=1)
def _script_source() -> str:
    with open(finders.find("widget/widget.js"), encoding="utf-8") as script:
        return script.read()


@require_GET
def widget_js(request):
    """The script, with the address of its stylesheet filled in (hashed in production)."""
    # On SITE_URL (unless STATIC_URL names another host), like the links it shows.
    stylesheet = urljoin(base_url(request) + "/", static("widget/widget.css"))
    body = _script_source().replace("__ADVOCATE_STYLESHEET__", stylesheet)
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    for header, value in CORS.items():
        response[header] = value
    return response


@require_GET
def widget_data(request):
    # Counted here rather than by @limit, so the 429 carries the CORS headers below: the
    # widget's script on the business's site could not read it otherwise.
    too_many = refused(request, "widget")
    customer = None if too_many else customer_for_token(request.GET.get("token", ""))
    if too_many is not None:
        response = too_many
    elif customer is None:
        response = JsonResponse({}, status=403)
    else:
        response = JsonResponse(widget_state(request, customer))
    response["Cache-Control"] = "private, no-store"
    for header, value in CORS.items():
        response[header] = value
    return response


def widget_state(request, customer: Customer) -> dict:
    organization = customer.organization
    source = account_services.source_for_customer(customer=customer)
    # A source staff deactivated has no link that works (/r/ answers 404): nothing to share.
    program = (
        referral_selectors.program_for_sharing(organization=organization, source_kind=source.kind)
        if source.active
        else None
    )
    link = referral_services.link_get_or_create(program=program, source=source) if program else None
    # Credit the customer earned as a friend and as a referrer, both spendable.
    holders = CreditAccount.objects.filter(source=source) | CreditAccount.objects.filter(
        customer=customer
    )
    available = sum(
        (reward_selectors.credit_available(account=account) for account in holders), ZERO
    )
    return {
        "organization": organization.name,
        "program": program.name if program else None,
        "offer": program.friend_offer if program else "",
        "url": referral_services.link_url(link, request) if link else None,
        "code": link.public_code if link else None,
        "credit": {
            "amount": f"{available:.2f}",
            "currency": organization.currency,
            "display": format_money(available, organization.currency),
        },
    }


@org_member_required()
def widget_demo(request):
    """The widget embedded in a page, for one of the organization's customers."""
    customers = Customer.objects.for_organization(request.organization).exclude(external_id="")
    chosen = request.GET.get("customer", "")
    customer = customers.filter(pk=int(chosen)).first() if chosen.isdigit() else None
    customer = customer or customers.order_by("pk").first()
    token = ""
    if customer is not None:
        token = make_token(
            organization=request.organization,
            customer_external_id=customer.external_id,
            email=customer.email,
            lifetime=600,
        )
    return render(request, "portal/widget_demo.html", {"customer": customer, "token": token})
