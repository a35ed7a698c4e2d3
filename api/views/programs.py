"""/api/v1/programs (read only, with the reward rules each pays) and /api/v1/links."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts.models import ReferralSource
from referrals import services as referral_services
from referrals.models import Program, ReferralLink
from rewards.selectors import programs_with_rules

from ..errors import MissingReference
from ..filters import LinkFilter, StrictOrdering
from ..serializers import Id, LinkOut, ProgramOut
from .base import ApiView, ListView


class ProgramList(ListView):
    serializer_class = ProgramOut
    filter_backends = [StrictOrdering]
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return programs_with_rules(organization=self.organization)


class ProgramDetail(ApiView):
    serializer_class = ProgramOut

    def get(self, request, pk: int):
        program = get_object_or_404(programs_with_rules(organization=self.organization), pk=pk)
        return self.answer(ProgramOut, program)


class LinkIn(serializers.Serializer):
    source = Id()
    program = Id()


def program_and_source(view, data: dict) -> tuple[Program, ReferralSource]:
    program = Program.objects.for_organization(view.organization).filter(pk=data["program"]).first()
    if program is None:
        raise MissingReference("program", "program", data["program"])
    source = (
        ReferralSource.objects.for_organization(view.organization).filter(pk=data["source"]).first()
    )
    if source is None:
        raise MissingReference("source", "source", data["source"])
    return program, source


class LinkList(ListView):
    queryset = ReferralLink.objects.none()  # the model, for the schema
    serializer_class = LinkOut
    filter_backends = [DjangoFilterBackend, StrictOrdering]
    filterset_class = LinkFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return ReferralLink.objects.for_organization(self.organization).select_related(
            "source", "program"
        )

    @extend_schema(
        operation_id="links_create",
        request=LinkIn,
        responses={200: LinkOut, 201: LinkOut},
        description="The source's link into the program: created on first use (201), "
        "the same link after that (200).",
    )
    def post(self, request):
        program, source = program_and_source(self, self.validated(LinkIn))
        link, created = referral_services.link_find_or_make(program=program, source=source)
        return self.answer(LinkOut, link, 201 if created else 200)


class LinkDetail(ApiView):
    serializer_class = LinkOut

    def get(self, request, pk: int):
        links = ReferralLink.objects.for_organization(self.organization).select_related(
            "source", "program"
        )
        return self.answer(LinkOut, get_object_or_404(links, pk=pk))
