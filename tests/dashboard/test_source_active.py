"""Deactivating a source stops its links; reactivating brings them back. Managers only."""

from referrals.services import link_resolve


def test_it_deactivates_a_source(login, bob, source, link):
    response = login(bob).post(f"/app/sources/{source.pk}/deactivate/")
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.active is False
    assert link_resolve(link.code) is None


def test_it_reactivates_a_source(login, bob, source, link):
    source.active = False
    source.save()
    login(bob).post(f"/app/sources/{source.pk}/reactivate/")
    source.refresh_from_db()
    assert source.active is True
    assert link_resolve(link.code) == link


def test_it_shows_the_button_that_fits(login, bob, charlie, source):
    client = login(bob)
    html = client.get(f"/app/sources/{source.pk}/").content.decode()
    assert 'data-testid="deactivate"' in html and 'data-testid="reactivate"' not in html
    client.post(f"/app/sources/{source.pk}/deactivate/")
    html = client.get(f"/app/sources/{source.pk}/").content.decode()
    assert 'data-testid="reactivate"' in html and 'data-testid="source-inactive"' in html
    html = login(charlie).get(f"/app/sources/{source.pk}/").content.decode()
    assert 'data-testid="reactivate"' not in html


def test_it_rejects_get(login, bob, source):
    assert login(bob).get(f"/app/sources/{source.pk}/deactivate/").status_code == 405
    source.refresh_from_db()
    assert source.active is True


def test_analyst_cannot_deactivate(login, charlie, source):
    assert login(charlie).post(f"/app/sources/{source.pk}/deactivate/").status_code == 403
    source.refresh_from_db()
    assert source.active is True


def test_it_hides_another_tenants_source(login, eve, source):
    client = login(eve)
    assert client.post(f"/app/sources/{source.pk}/deactivate/").status_code == 404
    assert client.post(f"/app/sources/{source.pk}/reactivate/").status_code == 404
    source.refresh_from_db()
    assert source.active is True


def test_reactivating_from_the_edit_form_also_gives_a_new_portal_link(login, bob, client, source):
    """Reactivating gives a new portal link (the old one may have leaked): ticking Active on
    the edit page must not bring the old link back to life."""
    old_token = source.portal_token
    login(bob).post(f"/app/sources/{source.pk}/deactivate/")
    assert client.get(f"/me/{old_token}/").status_code == 404

    response = client.post(
        f"/app/sources/{source.pk}/edit/",
        {"kind": source.kind, "name": source.name, "email": source.email, "active": "on"},
    )

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.active is True
    assert source.portal_token != old_token
    client.logout()
    assert client.get(f"/me/{old_token}/").status_code == 404
    assert client.get(f"/me/{source.portal_token}/").status_code == 200


def test_editing_an_active_source_keeps_its_portal_link(login, bob, source):
    old_token = source.portal_token
    login(bob).post(
        f"/app/sources/{source.pk}/edit/",
        {"kind": source.kind, "name": "Renamed", "email": source.email, "active": "on"},
    )
    source.refresh_from_db()
    assert source.name == "Renamed" and source.portal_token == old_token
