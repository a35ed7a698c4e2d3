"""/admin/: operators sign in through allauth's sign-in page, with its rate limits."""

from accounts.models import User

PASSWORD = "correct horse battery staple"


def test_the_admin_sign_in_form_checks_no_password_and_sends_to_allauth(client, db):
    """Django's own admin login form has no rate limit: passwords of operators (who see
    every tenant) could be tried there without end. It now only sends to allauth's page."""
    User.objects.create_user(email="op@example.com", password=PASSWORD, is_staff=True)
    for attempt in range(15):
        response = client.post(
            "/admin/login/?next=/admin/", {"username": "op@example.com", "password": f"x{attempt}"}
        )
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "op@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_a_signed_in_member_who_is_not_staff_is_refused_the_admin(client, alice):
    client.force_login(alice)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code in (302, 403)


def test_a_signed_in_operator_reaches_the_admin(client, db):
    operator = User.objects.create_user(email="op@example.com", password=PASSWORD, is_staff=True)
    client.force_login(operator)
    assert client.get("/admin/login/?next=/admin/").status_code == 302
