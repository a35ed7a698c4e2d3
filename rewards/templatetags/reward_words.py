"""``{{ rule|in_words }}``: a reward rule as the sentence ``rewards.words`` makes of it."""

from django import template

from rewards.words import rule_in_words

register = template.Library()


@register.filter
def in_words(rule) -> str:
    return rule_in_words(rule)
