"""Webhooks: emitted at the domain's moments, signed, delivered to a real HTTP server on
127.0.0.1, retried with backoff, logged; private addresses refused outside development."""

import ipaddress
import json
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import WebhookDelivery, WebhookEventType
from accounts.webhooks import (
    SIGNATURE_HEADER,
    WebhookRetry,
    backoff,
    delivery_resend,
    emit,
    endpoint_create,
    webhook_deliver,
)
from api.webhooks import verify_signature
from tests.helpers import wait_for

ALL_EVENTS = list(WebhookEventType.values)


class Receiver(ThreadingHTTPServer):
    """A business's endpoint: records every request; answers ``statuses`` in turn, then 200."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        self.location = ""
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/advocate"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        server: Receiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.received.append((dict(self.headers), body))
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        if server.location:
            self.send_header("Location", server.location)
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(acme, receiver):
    endpoint, secret = endpoint_create(organization=acme, url=receiver.url, events=ALL_EVENTS)
    endpoint.plain_secret = secret
    return endpoint


# Emitting -----------------------------------------------------------------------------------


def test_emit_writes_a_delivery_for_each_subscribed_endpoint_of_the_organization(
    acme, globex, receiver
):
    endpoint_create(organization=acme, url=receiver.url, events=["referral.created"])
    endpoint_create(organization=acme, url=receiver.url + "?b", events=["payout.paid"])
    endpoint_create(organization=globex, url=receiver.url, events=["referral.created"])
    deliveries = emit(acme, "referral.created", {"id": 1, "object": "referral"})
    assert len(deliveries) == 1
    body = json.loads(deliveries[0].body)
    assert body["type"] == "referral.created" and body["data"]["object"]["id"] == 1
    assert body["id"].startswith("evt_") and body["created"].endswith("Z")


def test_emit_costs_one_query_when_nobody_listens(acme, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert emit(acme, "reward.approved", {"id": 1}) == []


def test_the_domain_emits_at_each_named_moment(acme, endpoint, program, source, link, fixed_rule):
    from referrals.services import conversion_record, referral_create
    from rewards.models import Payout
    from rewards.services import (
        issue_rewards_for_conversion,
        payout_mark_paid,
        payout_process,
        payout_request,
        reward_grant_manual,
        reward_void,
        send_expiry_reminders,
    )

    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("50")
    )
    [reward] = issue_rewards_for_conversion(conversion_id=conversion.pk)
    reward_void(reward=reward, reason="Test", actor=None)
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("9"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    payout_process(payout_id=payout.pk)
    payout_mark_paid(payout=Payout.objects.get(pk=payout.pk), actor=None)
    from rewards.services import credit_account_for, credit_grant

    account = credit_account_for(organization_id=acme.pk, source=source)
    credit_grant(
        account=account,
        amount=Decimal("5"),
        expires_at=timezone.now() + timedelta(hours=12),
        idempotency_key="soon",
    )
    send_expiry_reminders()

    emitted = list(WebhookDelivery.objects.order_by("id").values_list("event_type", flat=True))
    for event_type in [
        "referral.created",
        "referral.converted",
        "reward.approved",
        "reward.fulfilled",
        "reward.voided",
        "payout.paid",
        "credit.expiring",
    ]:
        assert event_type in emitted, event_type
    voided = WebhookDelivery.objects.get(event_type="reward.voided")
    assert json.loads(voided.body)["data"]["object"]["status"] == "void"


def test_a_payout_that_runs_out_of_attempts_emits_payout_failed(
    acme, endpoint, source, settings, monkeypatch
):
    from rewards import providers
    from rewards.services import PayoutRetry, payout_process, payout_request, reward_grant_manual

    settings.REWARDS_PAYOUT_MAX_ATTEMPTS = 1

    class Broken:
        def pay(self, payout):
            raise RuntimeError("bank down")

    monkeypatch.setattr(providers, "get_provider", lambda method: Broken())
    monkeypatch.setattr("rewards.services.payouts.get_provider", lambda method: Broken())
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("9"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    try:
        payout_process(payout_id=payout.pk)
    except PayoutRetry:
        pytest.fail("the only attempt should fail the payout")
    delivery = WebhookDelivery.objects.get(event_type="payout.failed")
    assert json.loads(delivery.body)["data"]["object"]["status"] == "failed"


def test_a_rolled_back_change_sends_nothing(acme, endpoint):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        emit(acme, "referral.created", {"id": 1})
        raise RuntimeError("rolled back")
    assert not WebhookDelivery.objects.exists()


# Signing and sending ------------------------------------------------------------------------


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(acme, endpoint, receiver):
    [delivery] = emit(acme, "referral.created", {"id": 7, "object": "referral"})
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.last_duration_ms is not None
    [(headers, body)] = receiver.received
    assert body == delivery.body.encode()
    header = headers[SIGNATURE_HEADER]
    assert verify_signature(body, header, endpoint.plain_secret)
    assert not verify_signature(body + b" ", header, endpoint.plain_secret)
    assert not verify_signature(body, header, "whsec_wrong")


def test_verify_signature_refuses_replays_and_garbage():
    from accounts.webhooks import sign

    body, secret, now = b'{"id":"evt_1"}', "whsec_s", time.time()
    assert verify_signature(body, sign(secret, body, int(now)), secret, now=now)
    old = sign(secret, body, int(now) - 301)
    assert not verify_signature(body, old, secret, now=now)
    future = sign(secret, body, int(now) + 301)
    assert not verify_signature(body, future, secret, now=now)
    for header in ["", "t=abc,v1=00", "v1=00", f"t={int(now)}", "garbage"]:
        assert not verify_signature(body, header, secret, now=now)


def test_verify_signature_refuses_a_forged_header_rather_than_raising():
    """Anyone can POST to a receiver: a header with a superscript digit as its time or a
    non-ASCII signature made verify_signature raise (ValueError, TypeError), a 500 in the
    receiver that copied it, where docs/api.md has it answer 400."""
    body, secret, now = b'{"id":"evt_1"}', "whsec_s", time.time()
    for header in ["t=\u00b2,v1=00", f"t={int(now)},v1=\u00e9", f"t={int(now)},v1=\u0660"]:
        assert verify_signature(body, header, secret, now=now) is False


def test_a_failed_attempt_is_logged_and_retried_with_backoff(acme, endpoint, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [503, 500, 500]
    [delivery] = emit(acme, "payout.paid", {"id": 1})
    for expected in (1, 2):
        with pytest.raises(WebhookRetry) as retry:
            webhook_deliver(delivery_id=delivery.pk)
        assert retry.value.countdown == backoff(expected)
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [entry["status"] for entry in delivery.log] == [503, 500, 500]
    assert webhook_deliver(delivery_id=delivery.pk).attempts == 3  # failed stays failed


def test_backoff_doubles_from_the_base(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    assert [backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == 6 * 3600


def test_redirects_are_not_followed(acme, endpoint, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.statuses = [302]
    receiver.location = "http://169.254.169.254/latest/meta-data/"
    [delivery] = emit(acme, "payout.paid", {"id": 1})
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "failed" and delivery.last_status_code == 302
    assert len(receiver.received) == 1


def test_an_unreachable_endpoint_is_a_failed_attempt(acme, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint_create(organization=acme, url="http://127.0.0.1:9/nothing", events=ALL_EVENTS)
    [delivery] = emit(acme, "payout.paid", {"id": 1})
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "failed" and delivery.last_status_code is None
    assert "Error" in delivery.last_error


def test_resend_sends_the_same_event_again(acme, endpoint, receiver):
    [delivery] = emit(acme, "referral.created", {"id": 1})
    webhook_deliver(delivery_id=delivery.pk)
    copy = delivery_resend(delivery=delivery)
    webhook_deliver(delivery_id=copy.pk)
    assert copy.event_id == delivery.event_id
    assert receiver.received[0][1] == receiver.received[1][1]


# SSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http:///nohost",
    ],
)
def test_private_addresses_and_other_schemes_are_refused_in_production(acme, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as error:
        endpoint_create(organization=acme, url=url, events=ALL_EVENTS)
    assert "url" in error.value.message_dict


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64 (RFC 8215)
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[::ffff:0:a00:1]/hook",  # IPv4-translated (SIIT)
        "http://[fec0::1]/hook",  # site-local
    ],
)
def test_ipv6_addresses_that_carry_a_private_ipv4_address_are_refused(acme, settings, url):
    """Python 3.11's is_global calls these IPv6 forms global, but each reaches the IPv4
    address inside it (or the site's own network) through a translator or a tunnel: on a
    network with NAT64 (an IPv6-only cloud subnet) a webhook to 64:ff9b::a9fe:a9fe is a
    request to the metadata service."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as error:
        endpoint_create(organization=acme, url=url, events=ALL_EVENTS)
    assert "url" in error.value.message_dict


def test_ipv6_addresses_that_carry_a_public_ipv4_address_are_accepted(acme, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    for url in ["https://[64:ff9b::5db8:d822]/hook", "https://[2606:2800:220:1::1]/hook"]:
        endpoint, _ = endpoint_create(organization=acme, url=url, events=ALL_EVENTS)
        assert endpoint.pk


def test_a_public_address_is_accepted_in_production(acme, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    endpoint, _ = endpoint_create(
        organization=acme, url="https://93.184.216.34/hook", events=ALL_EVENTS
    )
    assert endpoint.pk


def test_a_delivery_to_a_private_address_is_refused_at_send_time(
    acme, endpoint, receiver, settings
):
    [delivery] = emit(acme, "referral.created", {"id": 1})
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "failed" and "public addresses" in delivery.last_error
    assert receiver.received == []


def _resolver(monkeypatch, *answers: str):
    """A DNS whose answers for any host change from one lookup to the next (rebinding)."""
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            address = str(ipaddress.ip_address(host))  # an address is its own answer
        except ValueError:
            address = answers[min(len(lookups), len(answers) - 1)]
            lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_delivery_connects_to_the_address_it_checked_not_one_a_second_lookup_gives(
    acme, receiver, settings, monkeypatch
):
    port = receiver.server_address[1]
    endpoint_create(
        organization=acme, url=f"http://hooks.rebind.test:{port}/hook", events=ALL_EVENTS
    )
    [delivery] = emit(acme, "referral.created", {"id": 1})
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    # Public for the check, loopback for any later lookup: the receiver on 127.0.0.1 must
    # not be reached.
    _resolver(monkeypatch, "93.184.216.34", "127.0.0.1")
    connected = []

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("the test keeps deliveries on this machine")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert connected == [("93.184.216.34", port)]
    assert receiver.received == []
    assert delivery.status == "failed" and "keeps deliveries on this machine" in delivery.last_error


def test_a_pinned_delivery_still_names_the_endpoints_host(acme, receiver, settings, monkeypatch):
    port = receiver.server_address[1]
    endpoint_create(organization=acme, url=f"http://hooks.shop.test:{port}/hook", events=ALL_EVENTS)
    [delivery] = emit(acme, "referral.created", {"id": 1})
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    # The check finds the receiver's address and takes it for public (as a real host's
    # would be); a second lookup would answer an address where nothing listens.
    lookups = _resolver(monkeypatch, "127.0.0.1", "192.0.2.1")
    monkeypatch.setattr("accounts.webhooks._is_public", lambda address: True)
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "succeeded"
    assert lookups == ["hooks.shop.test"]  # looked up once, by the check
    [(headers, _)] = receiver.received
    assert headers["Host"] == f"hooks.shop.test:{port}"


def test_unknown_events_are_refused(acme, receiver):
    with pytest.raises(ValidationError):
        endpoint_create(organization=acme, url=receiver.url, events=["everything"])
    with pytest.raises(ValidationError):
        endpoint_create(organization=acme, url=receiver.url, events=[])


# With a real worker ---------------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_retries_an_endpoint_that_fails_twice_then_delivers(
    celery_worker, acme, receiver, program, source, settings
):
    """The whole path: a referral committed, the delivery queued after commit, a real Celery
    worker sending it, the endpoint answering 500 twice, the task retrying with backoff."""
    from referrals.services import referral_create

    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    receiver.statuses = [500, 502]
    endpoint, secret = endpoint_create(
        organization=acme, url=receiver.url, events=["referral.created"]
    )
    referral = referral_create(
        program=program, source=source, channel="api", friend_email="f@example.com"
    )
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded").first()
    )
    assert delivery.attempts == 3
    assert [entry["status"] for entry in delivery.log] == [500, 502, 200]
    assert len(receiver.received) == 3
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # the same bytes on every attempt
    headers, body = receiver.received[-1]
    assert verify_signature(body, headers[SIGNATURE_HEADER], secret)
    assert json.loads(body)["data"]["object"]["id"] == referral.pk


def test_deliveries_whose_task_was_lost_are_resumed(acme, endpoint):
    from accounts.webhooks import deliveries_to_resume

    [fresh] = emit(acme, "payout.paid", {"id": 1})
    [lost] = emit(acme, "payout.paid", {"id": 2})
    WebhookDelivery.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    assert deliveries_to_resume() == [lost.pk]


def test_a_reward_event_says_what_a_partial_refund_took_back_as_the_api_does(
    api, endpoint, program, source, link
):
    """A refund of part of the order takes that share of the reward back: the reward.*
    events carried the full amount only, so a business paying or booking from them paid
    or booked too much. They carry ``taken_back`` and ``value``, as GET /rewards/<id> does."""
    from referrals.services import conversion_record, referral_create
    from rewards.services import (
        issue_rewards_for_conversion,
        reward_approve,
        reward_take_back,
        rule_create,
    )

    rule_create(program=program, trigger="first_purchase", amount=Decimal("30"), hold_days=30)
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("100")
    )
    [reward] = issue_rewards_for_conversion(conversion_id=conversion.pk)
    reward_take_back(reward=reward, share=Decimal("0.4"), reason="Refund r-1")
    reward_approve(reward=reward, actor=None)
    read = api.get(f"/api/v1/rewards/{reward.pk}").json()
    assert (read["amount"], read["taken_back"], read["value"]) == ("30.00", "12.00", "18.00")
    for event_type in ("reward.approved", "reward.fulfilled"):
        body = WebhookDelivery.objects.get(event_type=event_type).body
        sent = json.loads(body)["data"]["object"]
        assert (sent["amount"], sent["taken_back"], sent["value"]) == ("30.00", "12.00", "18.00")
    # The same fields as the API's reward, and nothing but the object's name besides.
    assert set(sent) - {"object"} == set(read)


def test_a_reward_event_writes_its_amounts_with_two_places(acme, endpoint, source):
    from rewards.services import reward_grant_manual

    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("9"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    sent = json.loads(WebhookDelivery.objects.filter(event_type__startswith="reward.").first().body)
    reward = sent["data"]["object"]
    assert (reward["amount"], reward["taken_back"], reward["value"]) == ("9.00", "0.00", "9.00")


def test_a_partial_refund_after_approval_is_told_by_reward_taken_back(
    acme, endpoint, program, source, link
):
    """A business that books rewards from the webhooks heard nothing when a partial refund
    took a share of an approved reward back: the value it booked stayed too high until some
    later event. reward.taken_back says so once per change; a held reward waits for its
    approval, which carries what is left."""
    from referrals.services import conversion_record, referral_create
    from rewards.services import (
        issue_rewards_for_conversion,
        reward_approve,
        reward_take_back,
        rule_create,
    )

    rule_create(program=program, trigger="first_purchase", amount=Decimal("30"), hold_days=30)
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("100")
    )
    [reward] = issue_rewards_for_conversion(conversion_id=conversion.pk)
    reward_take_back(reward=reward, share=Decimal("0.1"), reason="Refund r-0")
    assert not WebhookDelivery.objects.filter(event_type="reward.taken_back").exists()
    reward_approve(reward=reward, actor=None)
    reward_take_back(reward=reward, share=Decimal("0.4"), reason="Refund r-1")
    reward_take_back(reward=reward, share=Decimal("0.4"), reason="Refund r-1")  # again: nothing
    [told] = WebhookDelivery.objects.filter(event_type="reward.taken_back")
    sent = json.loads(told.body)["data"]["object"]
    reward.refresh_from_db()
    assert (sent["id"], sent["status"]) == (reward.pk, reward.status) == (reward.pk, "fulfilled")
    assert (sent["amount"], sent["taken_back"], sent["value"]) == ("30.00", "12.00", "18.00")
