"""``{% first_hour_checklist %}``: the overview's checklist until the first referred purchase."""

from django import template

from dashboard.start.checklist import first_hour_checklist as checklist

register = template.Library()


@register.inclusion_tag("dashboard/start/_checklist.html", takes_context=True)
def first_hour_checklist(context):
    organization = context.get("organization")
    stats = context.get("stats")
    if organization is None or getattr(stats, "converted", 0) or getattr(stats, "purchases", 0):
        return {"steps": None}  # the overview's own figures show a first conversion
    steps = checklist(organization=organization)
    return {"steps": steps, "can_write": context.get("can_write")}
