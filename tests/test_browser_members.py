"""An owner removes a member from the members page in Debian's chromium: the browser asks
first, cancelling removes no one, accepting removes them."""

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from tests.test_browser_review_and_money import signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_owner_confirms_before_a_member_is_removed(browser, live_server, acme, alice, bob):
    bobs = Membership.objects.get(user=bob, organization=acme)
    page = signed_in(browser, live_server, alice)
    page.goto("/app/settings/members/")
    remove = page.locator(f'form[action="/app/settings/members/{bobs.pk}/remove/"] button')

    questions = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    remove.click()
    expect(page.locator("h1")).to_have_text("Members of Acme Bank")
    assert questions and "Remove bob@example.com" in questions[0]
    assert Membership.objects.filter(pk=bobs.pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    remove.click()
    expect(page.locator("ul.messages")).to_contain_text("bob@example.com no longer has access")
    assert not Membership.objects.filter(pk=bobs.pk).exists()
    page.context.close()
