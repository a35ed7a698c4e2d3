"""/api/v1/rewards, /api/v1/payouts and the credit of customers and sources."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.models import Customer, ReferralSource
from rewards import selectors
from rewards import services as reward_services
from rewards.models import Payout, Reward

from ..errors import MissingReference
from ..filters import PayoutFilter, RewardFilter, StrictOrdering
from ..serializers import Id, LotOut, Money, PayoutOut, RewardOut, Text
from .base import ApiView, ListView
from .sources import source_of


class RewardList(ListView):
    queryset = Reward.objects.none()  # the model, for the schema
    serializer_class = RewardOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = RewardFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return Reward.objects.for_organization(self.organization)


def reward_of(view, pk: int) -> Reward:
    return get_object_or_404(Reward.objects.for_organization(view.organization), pk=pk)


class RewardDetail(ApiView):
    serializer_class = RewardOut

    def get(self, request, pk: int):
        return self.answer(RewardOut, reward_of(self, pk))


class RewardApprove(ApiView):
    serializer_class = RewardOut

    @extend_schema(operation_id="rewards_approve", request=None, responses=RewardOut)
    def post(self, request, pk: int):
        reward = reward_services.reward_approve(reward=reward_of(self, pk), actor=None, label="api")
        return self.answer(RewardOut, Reward.objects.get(pk=reward.pk))


class VoidIn(serializers.Serializer):
    reason = Text(max_length=200)


class RewardVoid(ApiView):
    serializer_class = RewardOut

    @extend_schema(operation_id="rewards_void", request=VoidIn, responses=RewardOut)
    def post(self, request, pk: int):
        reward = reward_of(self, pk)
        data = self.validated(VoidIn)
        reward = reward_services.reward_void(
            reward=reward, reason=data["reason"], actor=None, label="api"
        )
        return self.answer(RewardOut, Reward.objects.get(pk=reward.pk))


# Credit -------------------------------------------------------------------------------------


class CreditOut(serializers.Serializer):
    currency = serializers.CharField()
    balance = Money(help_text="The sum of the ledger.")
    available = Money(help_text="What can be spent now (lots past their date excluded).")
    lots = LotOut(many=True, help_text="Open lots, first to expire first.")


class RedeemIn(serializers.Serializer):
    amount = Money(min_value=0, max_value=10**9)
    order_id = Text(max_length=150)


class RedeemOut(serializers.Serializer):
    order_id = serializers.CharField()
    redeemed = Money()
    currency = serializers.CharField()
    balance = Money()


def _credit(holder: dict, organization) -> dict:
    account = selectors.credit_account_of(**holder)
    if account is None:
        return {"currency": organization.currency, "balance": 0, "available": 0, "lots": []}
    return {
        "currency": account.currency,
        "balance": selectors.credit_balance(account=account),
        "available": selectors.credit_available(account=account),
        "lots": list(selectors.open_lots(account=account)),
    }


def _redeem(view, holder: dict) -> Response:
    data = view.validated(RedeemIn)
    # One transaction: a refused redemption does not leave behind the account it opened.
    with transaction.atomic():
        account = reward_services.credit_account_for(organization_id=view.organization.pk, **holder)
        redeemed = reward_services.credit_redeem(
            account=account, amount=data["amount"], order_id=data["order_id"]
        )
    body = {
        "order_id": data["order_id"].strip(),
        "redeemed": redeemed,
        "currency": account.currency,
        "balance": selectors.credit_balance(account=account),
    }
    return Response(RedeemOut(body).data)


def customer_of(view, pk: int) -> Customer:
    return get_object_or_404(Customer.objects.for_organization(view.organization), pk=pk)


class CustomerCredit(ApiView):
    serializer_class = CreditOut

    @extend_schema(operation_id="customers_credit", responses=CreditOut)
    def get(self, request, pk: int):
        body = _credit({"customer": customer_of(self, pk)}, self.organization)
        return Response(CreditOut(body).data)


class CustomerRedeem(ApiView):
    serializer_class = RedeemOut

    @extend_schema(operation_id="customers_credit_redeem", request=RedeemIn, responses=RedeemOut)
    def post(self, request, pk: int):
        return _redeem(self, {"customer": customer_of(self, pk)})


class SourceCredit(ApiView):
    serializer_class = CreditOut

    @extend_schema(operation_id="sources_credit", responses=CreditOut)
    def get(self, request, pk: int):
        body = _credit({"source": source_of(self, pk)}, self.organization)
        return Response(CreditOut(body).data)


class SourceRedeem(ApiView):
    serializer_class = RedeemOut

    @extend_schema(operation_id="sources_credit_redeem", request=RedeemIn, responses=RedeemOut)
    def post(self, request, pk: int):
        return _redeem(self, {"source": source_of(self, pk)})


# Payouts ------------------------------------------------------------------------------------


class PayoutIn(serializers.Serializer):
    source = Id()
    method = serializers.ChoiceField(choices=Payout.Method.choices, required=False)
    amount = Money(
        max_digits=12,
        required=False,
        help_text="Part of the payout balance to pay (more than zero, at most the balance). "
        "Omitted: all of it.",
    )


class PayoutList(ListView):
    queryset = Payout.objects.none()  # the model, for the schema
    serializer_class = PayoutOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = PayoutFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.payout_list(organization=self.organization)

    @extend_schema(
        operation_id="payouts_create",
        request=PayoutIn,
        responses={201: PayoutOut},
        description="Pay a source its whole payout balance, or the `amount` of it asked for. "
        "The Idempotency-Key, when given, is the payout's own: the provider is called with it "
        "and pays once.",
    )
    def post(self, request):
        data = self.validated(PayoutIn)
        source = (
            ReferralSource.objects.for_organization(self.organization)
            .filter(pk=data["source"])
            .first()
        )
        if source is None:
            raise MissingReference("source", "source", data["source"])
        payout = reward_services.payout_request(
            source=source,
            method=data.get("method", ""),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            amount=data.get("amount"),
        )
        return self.answer(PayoutOut, payout, 201)


class PayoutDetail(ApiView):
    serializer_class = PayoutOut

    def get(self, request, pk: int):
        payouts = selectors.payout_list(organization=self.organization)
        return self.answer(PayoutOut, get_object_or_404(payouts, pk=pk))
