import pytest
from rest_framework.test import APIClient

from integrations import registry
from integrations.services import api_key_create


@pytest.fixture
def api():
    """An operator's key with every scope."""
    api_key, raw_key = api_key_create(name="Operator tills", scopes=sorted(registry.scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    client.api_key = api_key
    return client
