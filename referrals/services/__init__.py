"""
Writes for programs, links, clicks, referrals and the events credited to them.

One module per concept; this package exports the public names, so callers write
``from referrals.services import referral_create`` whatever module holds it:

- ``programs``: create and change programs.
- ``links``: a source's link and vanity code, QR codes, and the hot path of ``/r/<code>``.
- ``referrals``: introductions from every channel, fraud guards, review, a referral's progress.
- ``attribution``: events from the business: every purchase and refund of every customer
  stored, and the referral (and source) each is credited to (``docs/attribution.md``).

A conversion that may earn a reward is handed to the rewards app through the Celery task
named ``rewards.issue_rewards_for_conversion``, sent after the transaction commits, so the
worker always sees the row and a rolled-back conversion never earns anything.
"""

from .attribution import attribute, code_warnings, conversion_record, event_record
from .attribution_bulk import REWARDS_TASK, StoredConversion, events_record_many
from .links import (
    CODE_NEEDS_EMAIL,
    CODE_PATTERN,
    CodeWarning,
    cookie_name,
    hash_ip,
    link_find_or_make,
    link_get_or_create,
    link_resolve,
    link_set_vanity_code,
    link_url,
    links_for_source,
    program_links_create,
    qr_image,
)
from .programs import program_create, program_update
from .referrals import (
    INTRODUCTION_TASK,
    REWARD_TASK,
    fraud_checks,
    referral_approve,
    referral_create,
    referral_introduce,
    referral_reject,
)

__all__ = [
    "CODE_NEEDS_EMAIL",
    "CODE_PATTERN",
    "INTRODUCTION_TASK",
    "REWARD_TASK",
    "REWARDS_TASK",
    "CodeWarning",
    "StoredConversion",
    "attribute",
    "code_warnings",
    "conversion_record",
    "cookie_name",
    "event_record",
    "events_record_many",
    "fraud_checks",
    "hash_ip",
    "link_find_or_make",
    "link_get_or_create",
    "links_for_source",
    "program_links_create",
    "link_resolve",
    "link_set_vanity_code",
    "link_url",
    "program_create",
    "program_update",
    "qr_image",
    "referral_approve",
    "referral_create",
    "referral_introduce",
    "referral_reject",
]
