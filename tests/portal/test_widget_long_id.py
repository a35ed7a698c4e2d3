"""
A widget token's customer id longer than a customer's id can be (120 characters) was cut to
its first 120: two of the business's customers whose ids share that beginning were one, and
each was shown the other's credit and share link. Such a token is refused.
"""

import pytest

from accounts.models import Customer
from accounts.widget import InvalidToken, read_token
from tests.portal.test_widget import token_for

pytestmark = pytest.mark.django_db


def test_a_customer_id_longer_than_120_characters_is_refused_not_cut(client, acme, program):
    first, second = "x" * 120 + "-1", "x" * 120 + "-2"
    with pytest.raises(InvalidToken, match="customer"):
        read_token(token_for(acme, first))
    assert client.get("/widget/data", {"token": token_for(acme, first)}).status_code == 403
    assert client.get("/widget/data", {"token": token_for(acme, second)}).status_code == 403
    assert not Customer.objects.filter(organization=acme).exists()


def test_a_customer_id_of_120_characters_is_taken_whole(acme):
    claims = read_token(token_for(acme, "y" * 120))
    assert claims.customer_external_id == "y" * 120
