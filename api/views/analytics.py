"""/api/v1/analytics: the dashboard's numbers, from the analytics selectors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from analytics import selectors

from ..serializers import Money, UtcDateTime
from .base import ApiView, ListView

PERIOD = [
    OpenApiParameter("since", str, OpenApiParameter.QUERY, description="ISO 8601, inclusive"),
    OpenApiParameter("until", str, OpenApiParameter.QUERY, description="ISO 8601, exclusive"),
]


class PeriodIn(serializers.Serializer):
    since = UtcDateTime(required=False)
    until = UtcDateTime(required=False)

    def validate(self, data):
        if "since" in data and "until" in data and data["until"] <= data["since"]:
            raise serializers.ValidationError({"until": ["Give an until after since."]})
        return data


class SummaryOut(serializers.Serializer):
    currency = serializers.CharField()
    clicks = serializers.IntegerField()
    referrals = serializers.IntegerField()
    signups = serializers.IntegerField()
    converted = serializers.IntegerField()
    purchases = serializers.IntegerField()
    revenue = Money()
    reward_cost = Money()
    credits_issued = Money()
    pending_review = serializers.IntegerField()
    conversion_rate = serializers.DecimalField(
        max_digits=6, decimal_places=1, allow_null=True, help_text="Percent of referrals won."
    )
    roi = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)


class SourceStatsOut(serializers.Serializer):
    source = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    kind = serializers.CharField()
    referrals = serializers.IntegerField(source="referral_count")
    signups = serializers.IntegerField(source="signup_count")
    converted = serializers.IntegerField(source="converted_count")
    purchases = serializers.IntegerField(source="purchase_count")
    revenue = Money()


class AnalyticsSummary(ApiView):
    serializer_class = SummaryOut

    @extend_schema(operation_id="analytics_summary", parameters=PERIOD, responses=SummaryOut)
    def get(self, request):
        period = self.validated(PeriodIn, data=request.query_params.dict())
        overview = selectors.overview(organization=self.organization, **period)
        body = {
            **{f: getattr(overview, f) for f in SummaryOut().fields if hasattr(overview, f)},
            "currency": self.organization.currency,
        }
        return Response(SummaryOut(body).data)


class AnalyticsSources(ListView):
    serializer_class = SourceStatsOut
    ordering = "-id"

    @extend_schema(operation_id="analytics_sources", parameters=PERIOD)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        period = self.validated(PeriodIn, data=self.request.query_params.dict())
        return selectors.source_stats(organization=self.organization, **period)
