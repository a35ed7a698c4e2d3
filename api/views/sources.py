"""/api/v1/sources: who sends business, their portal link and their status."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts import selectors, services
from accounts.models import Customer, ReferralSource, SourceKind

from ..errors import MissingReference
from ..filters import SourceFilter, StrictOrdering
from ..serializers import Email, Id, PortalOut, SourceOut, Text
from .base import ApiView, ListView


class SourceIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SourceKind.choices, default=SourceKind.CUSTOMER)
    name = Text(max_length=200)
    email = Email(required=False, allow_blank=True, max_length=254)
    company = Text(required=False, allow_blank=True, max_length=200)
    customer = Id(required=False, allow_null=True)


class SourceUpdateIn(SourceIn):
    kind = serializers.ChoiceField(choices=SourceKind.choices, required=False)
    name = Text(max_length=200, required=False)


def _fields(view, data: dict) -> dict:
    """The model fields of validated input, with the customer id turned into the customer."""
    if "customer" in data:
        customer_id = data.pop("customer")
        data["customer"] = None
        if customer_id is not None:
            data["customer"] = (
                Customer.objects.for_organization(view.organization).filter(pk=customer_id).first()
            )
            if data["customer"] is None:
                raise MissingReference("customer", "customer", customer_id)
    return data


def source_of(view, pk: int) -> ReferralSource:
    return get_object_or_404(ReferralSource.objects.for_organization(view.organization), pk=pk)


class SourceList(ListView):
    queryset = ReferralSource.objects.none()  # the model, for the schema
    serializer_class = SourceOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = SourceFilter
    ordering_fields = ["id", "created_at", "name"]
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.source_list(organization=self.organization)

    @extend_schema(operation_id="sources_create", request=SourceIn, responses={201: SourceOut})
    def post(self, request):
        data = _fields(self, dict(self.validated(SourceIn)))
        source = services.source_create(organization=self.organization, **data)
        return self.answer(SourceOut, source, 201)


class SourceDetail(ApiView):
    serializer_class = SourceOut

    def get(self, request, pk: int):
        return self.answer(SourceOut, source_of(self, pk))

    @extend_schema(operation_id="sources_update", request=SourceUpdateIn, responses=SourceOut)
    def patch(self, request, pk: int):
        source = source_of(self, pk)
        data = _fields(self, dict(self.validated(SourceUpdateIn, partial=True)))
        return self.answer(SourceOut, services.source_update(source=source, **data))


class SourceDeactivate(ApiView):
    serializer_class = SourceOut

    @extend_schema(operation_id="sources_deactivate", request=None, responses=SourceOut)
    def post(self, request, pk: int):
        source = services.source_deactivate(source=source_of(self, pk))
        return self.answer(SourceOut, source)


class SourcePortal(ApiView):
    serializer_class = PortalOut

    @extend_schema(operation_id="sources_portal", responses=PortalOut)
    def get(self, request, pk: int):
        return self.answer(PortalOut, source_of(self, pk))
