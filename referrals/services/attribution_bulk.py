"""
Many events at once (the API's bulk of up to 1,000): the rules of ``attribution``, set-based.

``event_record`` costs some twenty statements per new purchase (the customer found, locked
and maybe created, the referrals matched, the winning purchase looked up, the purchase, the
conversion, the referral moved along, its history, the reward task). For a batch,
``events_record_many`` does the same work with a fixed number of statements, whatever the
batch's size: customers are found, locked and created together, the referrals that may
explain their events are read and locked together, the rules run in Python over that state,
one event after another in the batch's order, and the rows are written with bulk inserts.

It takes the common events only and leaves the rest to ``event_record``, one by one, in the
batch's order (the caller does that): a customer's events are all taken or all left, so a
customer's events are never reordered. Left to ``event_record`` are:

- refunds and events with a referral code or cookie (a code may create a referral, with
  its fraud guards and velocity limits), and every other event of their customers;
- a customer whose events would fill in their email or id (which changes who later events
  find), or would create several customers, or whose referral would be held as a
  self-referral;
- customers that share a candidate referral (the first purchase of one decides the other's);
- an event id sent twice in the batch, or already recorded (answered as a duplicate), and
  an event that fails its checks (the one-by-one path gives the error).

Concurrency: batches of one organization take turns (an advisory lock held until commit),
so each reads what the one before it wrote. Customers are locked in id order, then the
referrals, in id order, as the one-by-one path locks a customer and then its referral. New
customers, purchases and conversions are inserted under their unique constraints: a
concurrent single delivery of the same event or customer makes the insert fail (after it
waited for the other to commit); then the whole pass is rolled back and run again, and now
finds that customer, and answers that event as a duplicate. The same for a deadlock. After
three tries it leaves the batch to the one-by-one path.
"""

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from accounts import webhooks as account_webhooks
from accounts.models import Customer, Organization, ReferralSource, WebhookEventType
from core.money import ZERO, cents
from core.tasks import enqueue_many_on_commit

from .. import webhooks
from ..models import Conversion, Program, Purchase, Referral, ReferralEvent
from ..selectors import event_ids_recorded
from .attribution import CLOCK_SKEW, _clean_event, _Event, _in_window
from .referrals import mailbox, own_mailboxes

ATTEMPTS = 3
BATCH_LOCK_NAMESPACE = 7411  # pg_advisory_xact_lock(namespace, organization id)
# The rewards of a batch's conversions are issued by one task per hundred: a message (and a
# broker round trip) per conversion cost more than recording the events.
REWARDS_TASK = "rewards.issue_rewards_for_conversions"
REWARDS_PER_TASK = 100
FAST_KINDS = {Conversion.Kind.PURCHASE, Conversion.Kind.ADVOCACY, Conversion.Kind.SIGNUP}
_KIND_LABELS = dict(Conversion.Kind.choices)


@dataclass(frozen=True, slots=True)
class StoredConversion:
    """A conversion a batch stored, with what its answer reads of ``Conversion`` (same names):
    a model instance per event cost more than the rules."""

    pk: int
    referral: Referral
    customer_id: int
    kind: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    is_first_purchase: bool

    @property
    def referral_id(self) -> int:
        return self.referral.pk


@dataclass
class Recorded:
    """What ``event_record`` would have answered for one event: its conversion (or None
    when no source is credited), whether it was stored, and its customer."""

    conversion: StoredConversion | None
    created: bool
    customer_id: int | None
    rewards_queued: bool = False


@dataclass
class _Item:
    index: int
    event: _Event
    email: str
    external_id: str
    name: str


@dataclass
class _Group:
    """The events of one customer (found, or created by the group's first event)."""

    items: list[_Item] = field(default_factory=list)
    customer_id: int | None = None  # an existing customer
    slow: bool = False


class _Keys:
    """Union-find over what names a customer: emails, external ids, existing customers."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, node):
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def union(self, nodes):
        nodes = list(nodes)
        root = self.find(nodes[0])
        for node in nodes[1:]:
            other = self.find(node)
            if other != root:
                self.parent[other] = root


def events_record_many(*, organization: Organization, events: list[dict]) -> list[Recorded | None]:
    """Record the events it can (see the module's docstring) in one transaction; None for
    each event left to ``event_record``. ``events`` hold ``event_record``'s arguments.

    On databases other than PostgreSQL (bin/dev's SQLite: no arrays, advisory locks or
    planner settings) every event is left to ``event_record``: the same answers, one by
    one."""
    results: list[Recorded | None] = [None] * len(events)
    if not events or connection.vendor != "postgresql":
        return results
    for _attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                _one_batch_at_a_time(organization)
                done = _record_many(organization, events)
            break
        except IntegrityError:
            continue  # a concurrent request stored one of these events or customers: again
        except OperationalError as error:
            if not _is_deadlock(error):
                raise
    else:
        return results  # one by one, then
    for index, recorded in done.items():
        results[index] = recorded
    return results


def _one_batch_at_a_time(organization: Organization) -> None:
    """Batches of one organization run one after another (a lock held until the commit).

    Two batches of the same customers wait for each other's row locks anyway; what this
    adds is that a batch reads which customers and events exist only once the batch before
    it has committed, so it does not plan to create a customer that batch just created
    (whose insert would then fail, and the pass be run again, possibly again and again
    under a steady stream of batches)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [BATCH_LOCK_NAMESPACE, organization.pk]
        )


def _is_deadlock(error: OperationalError) -> bool:
    from psycopg import errors

    return isinstance(error.__cause__, errors.DeadlockDetected | errors.SerializationFailure)


# Which events are taken ------------------------------------------------------------------


def _named(data: dict) -> tuple[str, str]:
    return (
        (data.get("email") or "").strip().lower(),
        (data.get("customer_external_id") or "").strip(),
    )


def _record_many(organization: Organization, events: list[dict]) -> dict[int, Recorded]:
    ids: dict[str, list[int]] = defaultdict(list)
    for index, data in enumerate(events):
        ids[(data.get("external_id") or "").strip()].append(index)
    known = event_ids_recorded(organization=organization, ids=[i for i in ids if i])

    # Every customer named in the batch, as the database knows them now.
    emails = {e for e in (_named(d)[0] for d in events) if e}
    externals = {x for x in (_named(d)[1] for d in events) if x}
    # Read and locked at once: batches take turns (_one_batch_at_a_time), so no other batch
    # changes them meanwhile, and an event recorded alone waits for this batch's commit.
    by_external = {
        c.external_id: c
        for c in Customer.objects.select_for_update()
        .filter(organization=organization, external_id__any=externals)
        .order_by("pk")
    }
    by_email: dict[str, Customer] = {}
    by_email_only: dict[str, Customer] = {}  # the customers known by no id yet
    with _no_bitmap_scans():
        for c in (
            Customer.objects.select_for_update()
            .filter(organization=organization)
            .annotate(_email=Upper("email"))  # as email__iexact: the (organization, UPPER) index
            .filter(_email__any={e.upper() for e in emails})
            .order_by("first_seen_at", "pk")
        ):
            by_email.setdefault(c.email.lower(), c)
            if not c.external_id:
                by_email_only.setdefault(c.email.lower(), c)
    emailed = _Emailed(by_email, by_email_only)

    # Group the events by the customer they name; mark the groups left to event_record.
    keys = _Keys()
    taken: list[_Item] = []
    slow_nodes: list[tuple] = []
    refunded_orders: list[str] = []
    for index, data in enumerate(events):
        email, external_id = _named(data)
        event_id = (data.get("external_id") or "").strip()
        nodes: list[tuple] = [("e", email)] if email else []
        nodes += [("x", external_id)] if external_id else []
        found = by_external.get(external_id) if external_id else None
        if found is None and email:
            found = emailed.find(email, external_id)
        if found is not None:
            nodes.append(("c", found.pk))
        if event_id in known:
            continue  # answered as a duplicate by event_record; changes nothing
        simple = (
            data.get("kind") in FAST_KINDS
            and not (data.get("code") or "").strip()
            and not (data.get("cookie_code") or "").strip()
            and not (data.get("refund_of") or "").strip()
            and len(ids[event_id]) == 1
        )
        if data.get("kind") == Conversion.Kind.REFUND and (data.get("refund_of") or "").strip():
            refunded_orders.append(data["refund_of"].strip())
        if not nodes:
            continue  # names nobody: a refund (its order's customer is marked below) or bad
        nodes.append(("i", index))
        keys.union(nodes)
        if not simple:
            slow_nodes.append(("i", index))
            continue
        try:
            event = _clean_event(
                organization=organization,
                kind=data["kind"],
                external_id=event_id,
                amount=data.get("amount"),
                currency=data.get("currency") or "",
                occurred_at=data.get("occurred_at"),
                refund_of="",
                actor=None,
            )
        except ValidationError:
            slow_nodes.append(("i", index))
            continue
        taken.append(_Item(index, event, email, external_id, (data.get("name") or "").strip()))
    # A refund's order: its customer's events (in the batch, or stored) wait for it.
    for order_id in refunded_orders:
        for index in ids.get(order_id, []):
            slow_nodes.append(("i", index))
    if refunded_orders:
        for customer_id in Purchase.objects.filter(
            organization=organization, external_id__any=refunded_orders
        ).values_list("customer_id", flat=True):
            slow_nodes.append(("c", customer_id))

    groups: dict = defaultdict(_Group)
    for item in taken:
        groups[keys.find(("i", item.index))].items.append(item)
    slow_roots = {keys.find(node) for node in slow_nodes if node in keys.parent}
    for root, group in groups.items():
        group.slow = root in slow_roots
    found_customers = {
        c.pk: c for c in [*by_external.values(), *by_email.values(), *by_email_only.values()]
    }
    customers_in = defaultdict(set)
    for node in list(keys.parent):
        if node[0] == "c":
            customers_in[keys.find(node)].add(node[1])
    for root, group in groups.items():
        found_ids = customers_in.get(root, set())
        if len(found_ids) > 1:
            group.slow = True
        elif found_ids:
            group.customer_id = next(iter(found_ids))
            customer = found_customers[group.customer_id]
            group.slow = group.slow or not _finds_without_filling(
                group.items, customer, by_external, emailed
            )
        else:
            group.slow = group.slow or not _one_new_customer(group.items)
    fast = [g for g in groups.values() if not g.slow]
    if not fast:
        return {}
    # What the events left to event_record name: a referral they may touch is not ours.
    fast_roots = {root for root, g in groups.items() if not g.slow}
    slow_emails, slow_customers = set(), set()
    for node in list(keys.parent):
        if keys.find(node) not in fast_roots:
            if node[0] == "e":
                slow_emails.add(node[1])
            elif node[0] == "c":
                slow_customers.add(node[1])
    return _record_groups(organization, fast, found_customers, slow_emails, slow_customers)


@contextmanager
def _no_bitmap_scans():
    """For the statement inside, within the batch's transaction: no bitmap index scans.

    A thousand emails looked up by ``UPPER(email) IN (...)`` should be one scan of the
    (organization, UPPER(email)) btree index. Once PostgreSQL has statistics on the
    customers, it prefers the trigram GIN index on UPPER(email) (the dashboard's search)
    instead, probing it once per email at about 2 ms each: two seconds per batch at 5,000
    customers, growing with the table. Without bitmap scans the btree is the only index
    left for it (3 ms for the same batch)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = on")


class _Emailed:
    """The batch's customers by email, found as ``customer_find`` finds them: with an id,
    only a customer known by no id yet; without one, the first seen with the email."""

    def __init__(self, by_email: dict[str, Customer], by_email_only: dict[str, Customer]):
        self.by_email = by_email
        self.by_email_only = by_email_only

    def find(self, email: str, external_id: str) -> Customer | None:
        return (self.by_email_only if external_id else self.by_email).get(email)


def _finds_without_filling(
    items: list[_Item], customer: Customer, by_external, emailed: _Emailed
) -> bool:
    """Every event finds this customer (as ``customer_find`` would) and fills in neither
    its email nor its id (which would change whom later events find)."""
    for item in items:
        found = by_external.get(item.external_id) if item.external_id else None
        if found is None and item.email:
            found = emailed.find(item.email, item.external_id)
        if found is None or found.pk != customer.pk:
            return False
        if (item.external_id and not customer.external_id) or (item.email and not customer.email):
            return False
    return True


def _one_new_customer(items: list[_Item]) -> bool:
    """The first event creates the customer with every email and id the group names, so
    each later event finds it and fills in nothing."""
    first = items[0]
    return all(
        (not item.email or item.email == first.email)
        and (not item.external_id or item.external_id == first.external_id)
        for item in items
    )


# Recording -------------------------------------------------------------------------------


class _State:
    """One customer's state while their events run: what the database held when locked,
    and what the batch's earlier events changed."""

    def __init__(self, customer: Customer, created: bool):
        self.customer = customer
        self.new = created
        self.won: tuple[Referral, object] | None = None  # referral, occurred_at
        self.dirty: set[str] = set()


def _record_groups(
    organization: Organization,
    groups: list[_Group],
    locked: dict[int, Customer],
    slow_emails: set,
    slow_customers: set,
) -> dict[int, Recorded]:
    now = timezone.now()
    # Lock the customers (id order, as every writer does), then read what decides.
    existing_ids = sorted(g.customer_id for g in groups if g.customer_id is not None)
    won_by_customer: dict[int, Any] = {}  # (customer_id, referral_id, occurred_at) rows
    for won_conversion in (
        Conversion.objects.filter(customer_id__any=existing_ids, is_first_purchase=True)
        .exclude(referral__status=Referral.Status.REJECTED)
        .order_by("occurred_at", "id")
        .values_list("customer_id", "referral_id", "occurred_at", named=True)
    ):
        won_by_customer.setdefault(won_conversion.customer_id, won_conversion)
    emails = {item.email for g in groups for item in g.items if item.email}
    emails |= {
        locked[g.customer_id].email.lower()
        for g in groups
        if g.customer_id in locked and locked[g.customer_id].email
    }
    candidates: list[Referral] = list(
        Referral.objects.select_for_update(of=("self",))
        .filter(organization=organization)
        .annotate(_email=Upper("friend_email"))  # read by the (organization, UPPER) index
        .filter(
            Q(_email__any={e.upper() for e in emails})
            | Q(friend_id__any=existing_ids)
            | Q(pk__any=[c.referral_id for c in won_by_customer.values()])
        )
        .order_by("pk")
    )
    # Their few programs and sources once each, rather than joined into every row.
    programs = Program.objects.in_bulk({r.program_id for r in candidates})
    sources = ReferralSource.objects.select_related("customer").in_bulk(
        {r.source_id for r in candidates}
    )
    for r in candidates:
        r.program = programs[r.program_id]
        r.source = sources[r.source_id]
    by_pk = {r.pk: r for r in candidates}
    has_first = set(
        Conversion.objects.filter(referral_id__any=list(by_pk), is_first_purchase=True).values_list(
            "referral_id", flat=True
        )
    )
    rejected = Referral.Status.REJECTED

    # Which referrals each group may touch; groups sharing one are left to event_record.
    def group_emails(group: _Group) -> set[str]:
        found = {item.email for item in group.items if item.email}
        customer = locked.get(group.customer_id) if group.customer_id else None
        if customer is not None and customer.email:
            found.add(customer.email.lower())
        return found

    by_friend_email: dict[str, list[Referral]] = defaultdict(list)
    by_friend: dict[int, list[Referral]] = defaultdict(list)
    for r in candidates:
        by_friend_email[r.friend_email.lower()].append(r)
        if r.friend_id is not None:
            by_friend[r.friend_id].append(r)
    touches: dict[int, list[Referral]] = {}
    users: dict[int, int] = defaultdict(int)
    for n, group in enumerate(groups):
        mine = {r.pk: r for email in group_emails(group) for r in by_friend_email.get(email, [])}
        if group.customer_id is not None:
            mine.update((r.pk, r) for r in by_friend.get(group.customer_id, []))
            won = won_by_customer.get(group.customer_id)
            if won is not None:
                mine[won.referral_id] = by_pk[won.referral_id]
        touches[n] = list(mine.values())
        for r in touches[n]:
            users[r.pk] += 1
    for n, group in enumerate(groups):
        if group.customer_id is not None and group.customer_id not in locked:
            group.slow = True  # gone since it was found
            continue
        if any(
            users[r.pk] > 1
            or r.friend_email.lower() in slow_emails
            or r.friend_id in slow_customers
            for r in touches[n]
        ):
            group.slow = True
        for r in touches[n]:
            friend = r.friend_id or group.customer_id
            if "self_referral_customer" in r.flag_reasons:
                continue
            if (friend is not None and friend == r.source.customer_id) or (
                friend == group.customer_id
                and "self_referral_email" not in r.flag_reasons
                and own_mailboxes(r.source) & {mailbox(e) for e in group_emails(group)}
            ):
                group.slow = True  # held for review as a self-referral: event_record does it
        if group.customer_id is not None:
            fresh = locked[group.customer_id]
            if any(
                (i.external_id and not fresh.external_id) or (i.email and not fresh.email)
                for i in group.items
            ):
                group.slow = True  # changed since it was found

    new_customers: list[Customer] = []
    # The rows to insert, as plain tuples (a model instance per row cost more than the rules):
    # purchases (customer, event); conversions (referral, customer, index of the purchase in
    # ``purchases`` or None, kind, event, is_first_purchase).
    purchases: list[tuple[Customer, _Event]] = []
    conversions: list[tuple[Referral, Customer, int | None, str, _Event, bool]] = []
    history: list[ReferralEvent] = []
    changed_referrals: dict[int, Referral] = {}
    converted: list[Referral] = []
    friends: list[tuple[Referral, Customer]] = []
    dirty_customers: dict[int, tuple[Customer, set[str]]] = {}
    answers: dict[int, tuple[int | None, Customer, bool]] = {}
    kinds = {item.index: item.event.kind for g in groups for item in g.items}

    for n, group in enumerate(groups):
        if group.slow:
            continue
        state: _State | None = None
        if group.customer_id is not None:
            state = _State(locked[group.customer_id], created=False)
            won = won_by_customer.get(group.customer_id)
            if won is not None:
                state.won = (by_pk[won.referral_id], won.occurred_at)
        theirs = touches[n]
        for item in group.items:
            event = item.event
            customer: Customer | None = state.customer if state else None
            # attribute(): the referral that explains the event (no code in this path).
            email = item.email or (customer.email.lower() if customer else "")
            matches = [
                r
                for r in theirs
                if r.status != rejected
                and (
                    (email and r.friend_email.lower() == email)
                    or (customer is not None and _friend_is(r, customer))
                )
            ]
            matches.sort(key=lambda r: (r.created_at, r.pk))
            matches = [r for r in matches if _in_window(r, event.occurred_at)]
            touch = None
            if matches:
                touch = matches[-1]
                if touch.program.attribution_model == Program.AttributionModel.FIRST_TOUCH:
                    touch = next(r for r in matches if r.program_id == touch.program_id)
            created = False
            if state is None:
                first_seen = (
                    max(event.occurred_at, touch.created_at) if touch else event.occurred_at
                )
                customer = Customer(
                    organization=organization,
                    email=item.email,
                    external_id=item.external_id,
                    name=item.name,
                    first_seen_at=min(first_seen, now),
                )
                new_customers.append(customer)
                state = _State(customer, created=True)
                created = True
            else:
                customer = state.customer
                if item.name and not customer.name:
                    customer.name = item.name
                    state.dirty.add("name")
            known_before = (
                not created and touch is not None and customer.first_seen_at < touch.created_at
            )
            if event.occurred_at < customer.first_seen_at:
                customer.first_seen_at = event.occurred_at
                state.dirty.add("first_seen_at")
            referral, kind, is_first = _credit(event, state, touch, known_before, has_first)
            purchase = None
            if event.kind != Conversion.Kind.SIGNUP:
                purchase = len(purchases)
                purchases.append((customer, event))
            if referral is None:
                answers[item.index] = (None, customer, False)
                continue
            if referral.friend_id is None and not hasattr(referral, "_batch_friend"):
                referral._batch_friend = customer
                friends.append((referral, customer))
                changed_referrals[referral.pk] = referral
            conversion = len(conversions)
            conversions.append((referral, customer, purchase, kind, event, is_first))
            if is_first:
                has_first.add(referral.pk)
                if state.won is None:
                    state.won = (referral, event.occurred_at)
            queued = False
            if referral.is_credited:  # _apply_conversion
                previous = referral.status
                if kind == Conversion.Kind.SIGNUP and referral.status == Referral.Status.LEAD:
                    referral.status = Referral.Status.SIGNED_UP
                    referral.signed_up_at = event.occurred_at
                elif is_first and referral.status != Referral.Status.CONVERTED:
                    referral.status = Referral.Status.CONVERTED
                    referral.converted_at = event.occurred_at
                    if referral.signed_up_at is None:
                        referral.signed_up_at = referral.converted_at
                    if not customer.is_referred:
                        customer.is_referred = True
                        state.dirty.add("is_referred")
                    converted.append(referral)
                if referral.status != previous:
                    changed_referrals[referral.pk] = referral
                    history.append(
                        ReferralEvent(
                            organization_id=referral.organization_id,
                            referral=referral,
                            from_status=previous,
                            to_status=referral.status,
                            actor=None,
                            actor_label="system",
                            note=f"{_KIND_LABELS.get(kind, kind)} {event.external_id}"[:300],
                        )
                    )
                queued = True
            answers[item.index] = (conversion, customer, queued)
        if state is not None and not state.new and state.dirty:
            dirty_customers[state.customer.pk] = (state.customer, state.dirty)

    # Write it all: a fixed number of statements.
    new_customers.sort(key=lambda c: (c.external_id, c.email))  # one lock order for racing batches
    Customer.objects.bulk_create(new_customers)
    _update_rows(
        [c for c, _ in dirty_customers.values()],
        sorted({f for _, dirty in dirty_customers.values() for f in dirty}),
    )
    purchase_ids = _insert_columns(
        Purchase,
        {
            "organization_id": [organization.pk] * len(purchases),
            "customer_id": [customer.pk for customer, _ in purchases],
            "kind": [Purchase.Kind.PURCHASE.value] * len(purchases),
            "external_id": [event.external_id for _, event in purchases],
            "amount": [event.amount for _, event in purchases],
            "currency": [event.currency for _, event in purchases],
            "occurred_at": [event.occurred_at for _, event in purchases],
            "created_at": [now] * len(purchases),
        },
    )
    conversion_ids = _insert_columns(
        Conversion,
        {
            "organization_id": [organization.pk] * len(conversions),
            "referral_id": [row[0].pk for row in conversions],
            "source_id": [row[0].source_id for row in conversions],
            "customer_id": [row[1].pk for row in conversions],
            "purchase_id": [
                None if row[2] is None else purchase_ids[row[2]] for row in conversions
            ],
            "kind": [row[3] for row in conversions],
            "external_id": [row[4].external_id for row in conversions],
            "is_first_purchase": [row[5] for row in conversions],
            "occurred_at": [row[4].occurred_at for row in conversions],
            "created_at": [now] * len(conversions),
        },
    )
    for referral, customer in friends:
        referral.friend = customer
        del referral._batch_friend  # type: ignore[attr-defined]
    _update_rows(
        list(changed_referrals.values()), ["friend", "status", "signed_up_at", "converted_at"]
    )
    ReferralEvent.objects.bulk_create(history)
    queued_ids = [
        conversion_ids[c] for c, _, queued in answers.values() if c is not None and queued
    ]
    enqueue_many_on_commit(
        REWARDS_TASK,
        [
            [queued_ids[n : n + REWARDS_PER_TASK]]
            for n in range(0, len(queued_ids), REWARDS_PER_TASK)
        ],
    )
    if converted and account_webhooks.subscribed(
        organization.pk, WebhookEventType.REFERRAL_CONVERTED
    ):
        for referral in converted:
            webhooks.referral_changed(referral, Referral.Status.LEAD)

    def stored(n: int) -> StoredConversion:
        referral, customer, purchase, kind, event, is_first = conversions[n]
        return StoredConversion(
            pk=conversion_ids[n],
            referral=referral,
            customer_id=customer.pk,
            kind=kind,
            amount=event.amount if purchase is not None else cents(ZERO),
            currency=event.currency if purchase is not None else organization.currency,
            occurred_at=event.occurred_at,
            is_first_purchase=is_first,
        )

    return {
        index: Recorded(
            conversion=None if conversion is None else stored(conversion),
            # As event_record answers: an event credited to no source is stored if it left
            # a purchase; a signup nobody referred stores nothing.
            created=conversion is not None or kinds[index] != Conversion.Kind.SIGNUP,
            customer_id=customer.pk,
            rewards_queued=queued,
        )
        for index, (conversion, customer, queued) in answers.items()
    }


def _insert_columns(model, columns: dict[str, list]) -> list:
    """Insert rows given column by column (attribute names and their values, each list in
    the rows' order) in one ``INSERT ... SELECT FROM unnest(...) RETURNING id``, as
    ``bulk_create`` does on PostgreSQL, but without a model instance per row or preparing
    each value through its field (a third of a bulk's CPU). The values are ids, text,
    decimals, aware times and booleans, which psycopg takes as they are (the times as ISO
    text, below); a column left out gets its database default (NULL). The new ids, in the
    rows' order."""
    values = list(columns.values())
    if not values or not values[0]:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    # Times go as ISO 8601 text, which the statement casts back: psycopg writes an array of
    # aware datetimes at about 3 us a value, ten times what isoformat() and a text array cost.
    values = [
        [None if v is None else v.isoformat() for v in column]
        if field.get_internal_type() == "DateTimeField"
        else column
        for field, column in zip(fields, values, strict=True)
    ]
    table = connection.ops.quote_name(meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - names from the model, values as parameters
            f"RETURNING {connection.ops.quote_name(meta.pk.column)}",
            values,
        )
        return [row[0] for row in cursor.fetchall()]


def _update_rows(objects: list, fields: list[str]) -> None:
    """Write ``fields`` of many rows in one ``UPDATE ... FROM (VALUES ...)``: Django's
    ``bulk_update`` builds a CASE per field that PostgreSQL evaluates for every row, which
    takes seconds for a thousand rows."""
    if not objects or not fields:
        return
    meta = objects[0]._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in columns) + ")"
    params = [
        f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objects for f in columns
    ]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    table = connection.ops.quote_name(meta.db_table)
    pk = connection.ops.quote_name(meta.pk.column)
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = v.{connection.ops.quote_name(f.column)}"
        for f in columns[1:]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(objects))}) "  # noqa: S608 - names from the model, values as parameters
            f"AS v({names}) WHERE {table}.{pk} = v.{pk}",
            params,
        )


def _friend_is(referral: Referral, customer: Customer) -> bool:
    batch_friend = getattr(referral, "_batch_friend", None)
    if batch_friend is not None:
        return batch_friend is customer
    return customer.pk is not None and referral.friend_id == customer.pk


def _credit(event: _Event, state: _State, touch, known_before: bool, has_first: set):
    """``attribution._credit`` over the batch's state."""
    if state.won is not None:
        won_referral, _ = state.won
        if touch is not None and touch.pk != won_referral.pk and known_before:
            return touch, _advocacy_or_signup(event), False
        if event.occurred_at + CLOCK_SKEW >= won_referral.created_at:
            return won_referral, event.kind, False
        return None, event.kind, False
    if touch is None:
        return None, event.kind, False
    if event.kind == Conversion.Kind.PURCHASE and not known_before and touch.pk not in has_first:
        return touch, Conversion.Kind.PURCHASE, True
    return touch, _advocacy_or_signup(event), False


def _advocacy_or_signup(event: _Event) -> str:
    if event.kind == Conversion.Kind.SIGNUP:
        return Conversion.Kind.SIGNUP
    return Conversion.Kind.ADVOCACY
