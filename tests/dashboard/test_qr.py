"""QR codes of links, and the printable card."""

import io

import pytest


@pytest.mark.parametrize("fmt,content_type", [("svg", "image/svg+xml"), ("png", "image/png")])
def test_it_renders_the_qr_code(login, charlie, link, fmt, content_type):
    response = login(charlie).get(f"/app/links/{link.pk}/qr.{fmt}?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert f'filename="advocate-{link.code}.{fmt}"' in response["Content-Disposition"]
    body = response.content
    if fmt == "png":
        assert body.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert body.lstrip().startswith(b"<svg")


def test_the_qr_code_encodes_the_public_link(login, charlie, link):
    # segno can read back nothing, but the PNG of the same URL made here must be identical.
    import segno

    response = login(charlie).get(f"/app/links/{link.pk}/qr.png")
    expected = io.BytesIO()
    segno.make(f"http://localhost:8000/r/{link.code}", error="m").save(  # on SITE_URL
        expected, kind="png", scale=10, border=2
    )
    assert response.content == expected.getvalue()


def test_the_card_shows_source_offer_and_link(login, charlie, link):
    html = login(charlie).get(f"/app/links/{link.pk}/card/").content.decode()
    assert "Sam Source" in html and "€50 welcome bonus" in html and f"/r/{link.code}" in html


def test_another_tenant_gets_a_404(login, eve, link):
    client = login(eve)
    assert client.get(f"/app/links/{link.pk}/qr.svg").status_code == 404
    assert client.get(f"/app/links/{link.pk}/card/").status_code == 404


def test_unknown_formats_are_not_served(login, charlie, link):
    assert login(charlie).get(f"/app/links/{link.pk}/qr.gif").status_code == 404
