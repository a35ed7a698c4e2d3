"""Settings for developers: API keys and webhook endpoints, for owners only.

A new key or endpoint secret is shown once, on the page that answers its creation, and
never again: only a digest of a key is stored.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import services, webhooks
from accounts.models import ApiKey, Role, WebhookDelivery, WebhookEndpoint
from accounts.tenancy import org_member_required
from core.forms import add_form_errors, render_form

from .forms import ApiKeyForm, WebhookForm


@never_cache  # the page that answers a creation shows the secret: never kept
@org_member_required(Role.OWNER)
def api_keys(request):
    form = ApiKeyForm(request.POST or None)
    new_key = ""
    if request.method == "POST" and form.is_valid():
        try:
            api_key, new_key = services.api_key_create(
                organization=request.organization,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            form = ApiKeyForm()
    context = {
        "keys": ApiKey.objects.for_organization(request.organization).select_related("created_by"),
        "form": form,
        "new_key": new_key,
    }
    return render_form(request, "dashboard/developers/api_keys.html", context)


@org_member_required(Role.OWNER)
@require_POST
def api_key_revoke(request, pk: int):
    api_key = get_object_or_404(ApiKey.objects.for_organization(request.organization), pk=pk)
    services.api_key_revoke(api_key=api_key)
    messages.success(request, f"The key {api_key.name} is revoked.")
    return redirect("developers:api_keys")


@never_cache  # the page that answers a creation shows the secret: never kept
@org_member_required(Role.OWNER)
def webhook_list(request):
    form = WebhookForm(request.POST or None)
    new_secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            _, new_secret = webhooks.endpoint_create(
                organization=request.organization,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                created_by=request.user,
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            form = WebhookForm()
    context = {
        "endpoints": WebhookEndpoint.objects.for_organization(request.organization),
        "form": form,
        "new_secret": new_secret,
    }
    return render_form(request, "dashboard/developers/webhooks.html", context)


def _endpoint(request, pk: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint.objects.for_organization(request.organization), pk=pk)


@org_member_required(Role.OWNER)
def webhook_detail(request, pk: int):
    endpoint = _endpoint(request, pk)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    return render(
        request, "dashboard/developers/webhook_detail.html", {"endpoint": endpoint, "page": page}
    )


@org_member_required(Role.OWNER)
@require_POST
def webhook_active(request, pk: int):
    endpoint = _endpoint(request, pk)
    webhooks.endpoint_set_active(endpoint=endpoint, active=request.POST.get("active") == "1")
    return redirect("developers:webhook_detail", pk=endpoint.pk)


@org_member_required(Role.OWNER)
@require_POST
def webhook_delete(request, pk: int):
    endpoint = _endpoint(request, pk)
    webhooks.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"The endpoint {endpoint.url} is deleted.")
    return redirect("developers:webhooks")


@org_member_required(Role.OWNER)
@require_POST
def delivery_resend(request, pk: int):
    delivery = get_object_or_404(
        WebhookDelivery.objects.for_organization(request.organization), pk=pk
    )
    webhooks.delivery_resend(delivery=delivery)
    messages.success(request, f"{delivery.event_type} {delivery.event_id} is sent again.")
    return redirect("developers:webhook_detail", pk=delivery.endpoint_id)
