"""
/widget.js: a business embeds its customer's share link and credit on its own site.

The business's backend signs a short-lived token; a bad, tampered or expired token shows
nothing and the reason is logged.
"""

import base64
import json
import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer, ReferralSource
from accounts.widget import InvalidToken, make_token, read_token, widget_secret_rotate
from rewards.services import credit_account_for, credit_grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def token_for(organization, customer_id="C-1", **claims):
    return make_token(organization=organization, customer_external_id=customer_id, **claims)


def forged(organization, **claims):
    """A token whose payload says what an attacker wants, re-using a real signature."""
    real = token_for(organization)
    payload = {"org": organization.slug, "customer": "C-1", "exp": int(time.time()) + 60}
    payload.update(claims)
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{raw}.{real.split('.')[1]}"


# The token -------------------------------------------------------------------------------


def test_a_token_made_with_the_organizations_secret_is_read_back(acme):
    claims = read_token(token_for(acme, "C-9", email="ann@example.com", name="Ann"))
    assert (claims.organization, claims.customer_external_id) == (acme, "C-9")
    assert (claims.email, claims.name) == ("ann@example.com", "Ann")


@pytest.mark.parametrize(
    "token,reason",
    [
        ("", "malformed"),
        ("a.b.c", "malformed"),
        ("not-base64!.sig", "payload"),
        ("x" * 3000, "malformed"),
    ],
)
def test_a_malformed_token_is_refused(acme, token, reason):
    with pytest.raises(InvalidToken, match=reason):
        read_token(token)


def test_a_token_past_its_time_is_refused(acme):
    token = token_for(acme, lifetime=60)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(token, now=time.time() + 61)


def test_a_token_that_lives_longer_than_a_day_is_refused(acme):
    with pytest.raises(InvalidToken, match="ahead"):
        read_token(token_for(acme, lifetime=3 * 86400))


def test_a_tampered_payload_is_refused(acme):
    with pytest.raises(InvalidToken, match="signature"):
        read_token(forged(acme, customer="someone-else"))


def test_another_organizations_secret_does_not_sign_for_this_one(acme, globex):
    token = token_for(globex)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert payload["org"] == "globex"
    with pytest.raises(InvalidToken, match="signature"):
        read_token(forged(acme, org="globex"))


def test_rotating_the_secret_ends_every_token_at_once(acme):
    token = token_for(acme)
    widget_secret_rotate(organization=acme)
    with pytest.raises(InvalidToken, match="signature"):
        read_token(token)


def test_a_token_with_a_bad_email_is_refused(acme):
    with pytest.raises(InvalidToken, match="email"):
        read_token(token_for(acme, email="not an email"))


# The data endpoint -----------------------------------------------------------------------


def test_the_widget_shows_the_customers_link_and_credit(client, acme, program):
    customer = CustomerFactory(organization=acme, external_id="C-1", email="cat@example.com")
    source_account = None
    response = client.get("/widget/data", {"token": token_for(acme, "C-1")})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "private, no-store"
    data = response.json()
    source = ReferralSource.objects.get(customer=customer)
    link = source.links.get(program=program)
    assert data["url"] == f"http://localhost:8000/r/{link.public_code}"  # on SITE_URL
    assert data["code"] == link.public_code and data["program"] == program.name
    assert data["credit"] == {"amount": "0.00", "currency": "EUR", "display": "€0.00"}

    source_account = credit_account_for(organization_id=acme.pk, source=source)
    friend_account = credit_account_for(organization_id=acme.pk, customer=customer)
    for account, amount in ((source_account, "15.00"), (friend_account, "10.50")):
        credit_grant(
            account=account,
            amount=Decimal(amount),
            expires_at=timezone.now() + timedelta(days=30),
            idempotency_key=f"w-{account.pk}",
        )
    again = client.get("/widget/data", {"token": token_for(acme, "C-1")}).json()
    assert again["credit"]["amount"] == "25.50" and again["url"] == data["url"]
    assert ReferralSource.objects.filter(customer=customer).count() == 1


def test_a_customer_the_business_has_not_sent_yet_is_made_on_first_sight(client, acme, program):
    token = token_for(acme, "NEW-7", email="new@example.com", name="Nia")
    assert client.get("/widget/data", {"token": token}).status_code == 200
    customer = Customer.objects.get(organization=acme, external_id="NEW-7")
    assert (customer.email, customer.name) == ("new@example.com", "Nia")


def test_a_token_for_another_customer_id_with_a_victims_email_is_not_the_victim(
    client, acme, program
):
    """The token's customer id is who the visitor is; its email is what the business was
    told (often unverified). Found by email, a token for id "ATT-1" with someone else's
    address was shown that other customer's credit and share link."""
    victim = CustomerFactory(organization=acme, external_id="C-42", email="vic@example.com")
    credit_grant(
        account=credit_account_for(organization_id=acme.pk, customer=victim),
        amount=Decimal("40"),
        expires_at=timezone.now() + timedelta(days=30),
        idempotency_key="vic",
    )
    victims = client.get("/widget/data", {"token": token_for(acme, "C-42")}).json()
    token = token_for(acme, "ATT-1", email="vic@example.com")
    data = client.get("/widget/data", {"token": token}).json()
    assert data["credit"]["amount"] == "0.00" and data["url"] != victims["url"]
    assert Customer.objects.get(organization=acme, external_id="ATT-1") != victim
    victim.refresh_from_db()
    assert victim.external_id == "C-42"


def test_a_customer_known_only_by_email_is_given_the_tokens_id(client, acme, program):
    known = CustomerFactory(organization=acme, external_id="", email="kim@example.com")
    client.get("/widget/data", {"token": token_for(acme, "K-1", email="kim@example.com")})
    known.refresh_from_db()
    assert known.external_id == "K-1"
    assert Customer.objects.filter(organization=acme).count() == 1


def test_with_no_program_open_to_customers_the_widget_shows_credit_only(client, acme):
    data = client.get("/widget/data", {"token": token_for(acme)}).json()
    assert data["url"] is None and data["credit"]["amount"] == "0.00"


def test_a_customer_whose_source_was_deactivated_is_shown_no_link(client, acme, program):
    """Staff deactivated the customer as a referrer: its link answers 404, so the widget
    does not offer it to share (its credit is still the customer's)."""
    customer = CustomerFactory(organization=acme, external_id="C-1", email="cat@example.com")
    client.get("/widget/data", {"token": token_for(acme, "C-1")})
    ReferralSource.objects.filter(customer=customer).update(active=False)
    data = client.get("/widget/data", {"token": token_for(acme, "C-1")}).json()
    assert (data["url"], data["code"]) == (None, None)
    assert data["credit"]["amount"] == "0.00"


def test_a_refused_token_gets_an_empty_403_and_the_reason_is_logged(client, acme, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.widget"):
        response = client.get("/widget/data", {"token": token_for(acme, lifetime=-5)})
    assert response.status_code == 403 and response.json() == {}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "expired" in caplog.text
    assert not Customer.objects.exists()


def test_the_data_endpoint_runs_a_bounded_number_of_queries(
    client, acme, program, django_assert_max_num_queries
):
    CustomerFactory(organization=acme, external_id="C-1")
    client.get("/widget/data", {"token": token_for(acme)})  # first sight makes source and link
    with django_assert_max_num_queries(14):
        assert client.get("/widget/data", {"token": token_for(acme)}).status_code == 200


def test_widget_js_is_served_to_any_site_with_its_stylesheet(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=300"
    body = response.content.decode()
    assert "__ADVOCATE_STYLESHEET__" not in body
    assert "http://localhost:8000/static/widget/widget.css" in body  # on SITE_URL


def test_the_widget_builds_its_addresses_on_site_url_not_the_requests_host(
    client, settings, acme, program
):
    """Behind a proxy the Host is the proxy's upstream name (or whatever a client sent):
    a widget built on it handed customers share links nobody else could open."""
    settings.SITE_URL = "https://refer.acme.example"
    CustomerFactory(organization=acme, external_id="C-1")
    data = client.get(
        "/widget/data", {"token": token_for(acme, "C-1")}, HTTP_HOST="app-internal:8000"
    ).json()
    assert data["url"] == f"https://refer.acme.example/r/{data['code']}"
    body = client.get("/widget.js", HTTP_HOST="app-internal:8000").content.decode()
    assert "https://refer.acme.example/static/widget/widget.css" in body
    assert "app-internal" not in body


# The demo page ---------------------------------------------------------------------------


def test_the_demo_page_embeds_the_widget_for_a_customer(login, charlie, acme, globex):
    CustomerFactory(organization=globex, external_id="G-1")
    customer = CustomerFactory(organization=acme, external_id="C-5")
    html = login(charlie).get("/widget/demo/").content.decode()
    assert 'src="/widget.js"' in html and "C-5" in html
    token = html.split('data-token="')[1].split('"')[0]
    assert read_token(token).customer_external_id == customer.external_id


def test_the_demo_page_never_shows_another_organizations_customer(login, alice, globex):
    other = CustomerFactory(organization=globex, external_id="G-1")
    html = login(alice).get("/widget/demo/", {"customer": other.pk}).content.decode()
    assert "G-1" not in html and "data-token" not in html


def test_the_demo_page_requires_sign_in(client):
    response = client.get("/widget/demo/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# In a browser ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_widget_renders_on_its_demo_page(
    browser, live_server, transactional_db, tmp_path, settings
):
    from accounts.models import Membership
    from tests.conftest import PASSWORD, make_user
    from tests.factories import OrganizationFactory, ProgramFactory

    settings.SITE_URL = live_server.url  # the widget's links and stylesheet are on it
    org = OrganizationFactory(slug="harbour", currency="EUR")
    ProgramFactory(organization=org, friend_offer="A month free")
    CustomerFactory(organization=org, external_id="H-1", email="hal@example.com")
    user = make_user("owner@harbour.example")
    Membership.objects.create(user=user, organization=org, role="owner")

    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto("/widget/demo/")
    page.wait_for_selector("[data-advocate-state=ready]")
    widget = page.locator("[data-testid=widget] .box")  # Playwright's CSS pierces the shadow root
    assert "A month free" in widget.inner_text()
    assert widget.locator("input.url").input_value().startswith(f"{live_server.url}/r/")
    assert "€0.00" in widget.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(tmp_path / "widget-demo.png"), full_page=True)
    context.close()


# The owner's settings --------------------------------------------------------------------


def test_an_owner_sees_the_secret_and_rotates_it(login, alice, acme):
    client = login(alice)
    old = acme.widget_secret
    page = client.get("/app/settings/widget/").content.decode()
    assert old in page
    # What a token's "org" must say, beside the secret that signs it.
    assert f'<code data-testid="widget-org">{acme.slug}</code>' in page
    response = client.post("/app/settings/widget/")
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.widget_secret != old and len(acme.widget_secret) >= 40


def test_a_manager_neither_sees_nor_rotates_the_secret(login, bob, acme):
    client = login(bob)
    assert client.get("/app/settings/widget/").status_code == 403
    assert client.post("/app/settings/widget/").status_code == 403
    old = acme.widget_secret
    acme.refresh_from_db()
    assert acme.widget_secret == old


def test_each_organization_has_its_own_secret(acme, globex):
    assert acme.widget_secret != globex.widget_secret


def test_the_python_example_in_the_docs_makes_a_token_advocate_accepts(acme):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "widget.md"
    example = docs.read_text().split("### Python\n\n```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(example, "docs/widget.md", "exec"), namespace)  # noqa: S102 - our own docs
    token = namespace["advocate_widget_token"](acme.widget_secret, acme.slug, "C-42", "d@x.io")
    claims = read_token(token)
    assert (claims.customer_external_id, claims.email) == ("C-42", "d@x.io")


def test_the_node_example_in_the_docs_makes_a_token_advocate_accepts(acme):
    import shutil
    import subprocess
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "widget.md"
    example = docs.read_text().split("### Node.js\n\n```js\n")[1].split("```")[0]
    script = example + (
        f"process.stdout.write(advocateWidgetToken({json.dumps(acme.widget_secret)}, "
        f"{json.dumps(acme.slug)}, 'C-7'));"
    )
    node = shutil.which("node")
    assert node, "Node.js is part of the setup (it fetches the front-end libraries)"
    token = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout
    assert read_token(token).customer_external_id == "C-7"


def test_past_the_rate_the_widget_is_told_429_with_cors(client, acme, settings):
    """The widget runs on the business's site: an answer without CORS headers is a network
    error to its script, which could not tell "slow down" (Retry-After) from a broken site."""
    settings.RATELIMITS = {**settings.RATELIMITS, "widget": "2/m"}
    token = token_for(acme)
    for _ in range(2):
        assert client.get("/widget/data", {"token": token}).status_code == 200
    response = client.get("/widget/data", {"token": token})
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "private, no-store"
