"""A program's page previews the emails friends and sources get, with its own subject and
opening, and the preview frame is the only answer that allows an email's inline styles."""

from referrals.services import program_update


def test_the_program_page_previews_both_emails_with_its_own_words(login, charlie, program):
    program_update(
        program=program,
        friend_email_subject="Welcome, friend of Acme",
        source_email_subject="Thank you from Acme",
        source_email_intro="You are one of our best ambassadors.",
    )
    html = login(charlie).get(f"/app/programs/{program.pk}/").content.decode()
    assert "Welcome, friend of Acme" in html and "Thank you from Acme" in html
    assert "You are one of our best ambassadors." in html  # in the plain-text version
    assert f'src="/app/programs/{program.pk}/emails/source/"' in html


def test_the_preview_is_the_emails_html_framed_by_the_dashboard_only(login, charlie, program):
    program_update(program=program, friend_email_intro="Hi from the Acme team.")
    response = login(charlie).get(f"/app/programs/{program.pk}/emails/friend/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hi from the Acme team." in html and "Hello Alex Example," in html
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_the_source_preview_links_a_portal(login, charlie, program, fixed_rule):
    html = login(charlie).get(f"/app/programs/{program.pk}/emails/source/").content.decode()
    assert "/me/preview/" in html and "€25.00" in html


def test_an_unknown_kind_is_not_found(login, charlie, program):
    assert login(charlie).get(f"/app/programs/{program.pk}/emails/other/").status_code == 404
