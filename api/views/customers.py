"""/api/v1/customers: the business's customers, created or updated by its own id."""

from django.db.models import F
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts import selectors, services
from accounts.models import Customer

from ..filters import CustomerFilter, StrictOrdering
from ..serializers import CustomerOut, Email, Text
from .base import ApiView, ListView


class CustomerIn(serializers.Serializer):
    external_id = Text(max_length=120)
    email = Email(required=False, allow_blank=True, max_length=254)
    name = Text(required=False, allow_blank=True, max_length=200)
    phone = Text(required=False, allow_blank=True, max_length=40)


class CustomerList(ListView):
    queryset = Customer.objects.none()  # the model, for the schema; get_queryset scopes
    serializer_class = CustomerOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = CustomerFilter
    ordering_fields = ["id", "created_at", "first_seen_at"]
    ordering = ["-id"]

    def get_queryset(self):
        # ``created_at`` as the API shows it (and as ``ordering`` takes it, as on every list).
        return selectors.customer_list(organization=self.organization).annotate(
            created_at=F("first_seen_at")
        )

    @extend_schema(
        operation_id="customers_upsert",
        request=CustomerIn,
        responses={200: CustomerOut, 201: CustomerOut},
        description="Create a customer, or update the one with this external_id (200).",
    )
    def post(self, request):
        data = self.validated(CustomerIn)
        customer, created = services.customer_upsert(organization=self.organization, **data)
        return self.answer(CustomerOut, customer, 201 if created else 200)


class CustomerDetail(ApiView):
    serializer_class = CustomerOut

    def get(self, request, pk: int):
        customer = get_object_or_404(selectors.customer_list(organization=self.organization), pk=pk)
        return self.answer(CustomerOut, customer)
