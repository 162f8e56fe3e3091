"""Credentials for tests that talk HTTP: a fixed signing key and tokens minted with it.

Servers under test get `AUTH_SIGNING_KEYS=TEST_SIGNING_KEYS`, so a test mints the
token it needs through the library (as `tria token --customer` does) instead of
logging in. `OutletAuth` makes a client authenticate every request as the outlet the
request names (its body's or query's customer_id): the tests written before
authentication keep their shape and now run authenticated.
"""

from __future__ import annotations

import json
from datetime import timedelta

from tria_graph.auth import TokenSigner
from tria_graph.auth.tokens import parse_keys

TEST_SIGNING_KEYS = "test-1:" + "k" * 48
DEFAULT_OUTLET = "OUT-001"


def signer(keys: str = TEST_SIGNING_KEYS) -> TokenSigner:
    return TokenSigner(parse_keys(keys))


def customer_token(customer_id: str, ttl: timedelta = timedelta(hours=1), keys: str = TEST_SIGNING_KEYS) -> str:
    return signer(keys).issue(f"outlet:{customer_id}", ttl, role="customer", outlet_id=customer_id)


def bearer(customer_id: str, keys: str = TEST_SIGNING_KEYS) -> dict[str, str]:
    return {"Authorization": f"Bearer {customer_token(customer_id, keys=keys)}"}


def named_outlet(request) -> str:
    """The customer_id a request names (query, else JSON body), else DEFAULT_OUTLET."""
    named = request.url.params.get("customer_id")
    if named is None and request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            body = None
        if isinstance(body, dict):
            named = body.get("customer_id")
    return named if isinstance(named, str) and named else DEFAULT_OUTLET


class OutletAuth:
    """Authenticate each request as the outlet it names, unless it carries credentials.

    A callable, which httpx and Starlette's TestClient (httpx2) both take as `auth`."""

    def __init__(self, keys: str = TEST_SIGNING_KEYS) -> None:
        self.keys = keys

    def __call__(self, request):
        if "authorization" not in request.headers and "x-api-key" not in request.headers:
            request.headers["Authorization"] = f"Bearer {customer_token(named_outlet(request), keys=self.keys)}"
        return request
