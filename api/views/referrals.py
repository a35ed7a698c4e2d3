"""/api/v1/referrals: introductions made through the API, and every referral to read."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from referrals import selectors
from referrals import services as referral_services
from referrals.models import Channel, Referral

from ..filters import ReferralFilter, StrictOrdering
from ..serializers import Email, Id, ReferralOut, Text
from .base import ApiView, ListView
from .programs import program_and_source

INTRODUCTION_CHANNELS = [Channel.EMAIL, Channel.PHONE, Channel.IN_PERSON, Channel.API]


class ReferralIn(serializers.Serializer):
    source = Id()
    program = Id()
    channel = serializers.ChoiceField(
        choices=[(c.value, c.label) for c in INTRODUCTION_CHANNELS], default=Channel.API
    )
    friend_name = Text(required=False, allow_blank=True, max_length=200)
    friend_email = Email(required=False, allow_blank=True, max_length=254)
    friend_phone = Text(required=False, allow_blank=True, max_length=40)


class ReferralList(ListView):
    queryset = Referral.objects.none()  # the model, for the schema
    serializer_class = ReferralOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = ReferralFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.referral_list(organization=self.organization)

    @extend_schema(
        operation_id="referrals_create",
        request=ReferralIn,
        responses={200: ReferralOut, 201: ReferralOut},
        description="Record an introduction: 201 with the new referral. The same friend "
        "introduced again by the same source into the same program within a day is the same "
        "lead: 200 with the referral made the first time.",
    )
    def post(self, request):
        data = dict(self.validated(ReferralIn))
        program, source = program_and_source(self, data)
        referral, created = referral_services.referral_introduce(
            program=program,
            source=source,
            channel=data["channel"],
            friend_email=data.get("friend_email", ""),
            friend_name=data.get("friend_name", ""),
            friend_phone=data.get("friend_phone", ""),
            actor_label="api",
        )
        return self.answer(ReferralOut, referral, 201 if created else 200)


class ReferralDetail(ApiView):
    serializer_class = ReferralOut

    def get(self, request, pk: int):
        referrals = selectors.referral_list(organization=self.organization)
        return self.answer(ReferralOut, get_object_or_404(referrals, pk=pk))
