"""`tria xero connect`: Xero's OAuth2 authorization-code flow.

1. consent_url(): the page the operator opens (scopes for invoices and contacts, plus
   offline_access for a refresh token), with a random `state`.
2. wait_for_callback(): a one-request HTTP server on the redirect URI's host and port
   receives Xero's redirect with the code (and checks `state`).
3. exchange_code(): the code for a token set at the token endpoint (HTTP Basic auth).
4. tenants(): GET /connections lists the organisations the consent covers.
The CLI stores the tokens and the tenant encrypted (TokenStore.save).
"""

from __future__ import annotations

import secrets
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

SCOPES = "openid profile email accounting.transactions accounting.contacts offline_access"


class ConsentFailed(RuntimeError):
    pass


def new_state() -> str:
    return secrets.token_urlsafe(16)


def consent_url(settings, state: str) -> str:
    query = urlencode({
        "response_type": "code",
        "client_id": settings.xero_client_id,
        "redirect_uri": settings.xero_redirect_uri,
        "scope": SCOPES,
        "state": state,
    })
    return f"{settings.xero_authorize_url}?{query}"


def callback_server(redirect_uri: str) -> HTTPServer:
    """Bound before the URL is printed, so a fast browser cannot arrive too early."""
    parts = urlsplit(redirect_uri)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if urlsplit(self.path).path != parts.path:
                self.send_response(404)
                self.end_headers()
                return
            self.server.query = parse_qs(urlsplit(self.path).query)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write("Tria is connected to Xero. You can close this tab.".encode())

        def log_message(self, *args):
            pass

    server = HTTPServer((parts.hostname or "localhost", parts.port or 80), Handler)
    server.query = None
    return server


def wait_for_callback(server: HTTPServer, state: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    server.timeout = 1
    while server.query is None:
        if time.monotonic() > deadline:
            raise ConsentFailed("No answer from Xero's consent page in time.")
        server.handle_request()
    query = server.query
    if "error" in query:
        raise ConsentFailed(f"Xero refused the consent: {query['error'][0]}")
    if query.get("state", [""])[0] != state:
        raise ConsentFailed("The callback's state does not match: start `tria xero connect` again.")
    return query["code"][0]


def exchange_code(settings, code: str) -> dict:
    response = httpx.post(
        settings.xero_token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": settings.xero_redirect_uri},
        auth=(settings.xero_client_id, settings.xero_client_secret),
        timeout=settings.xero_timeout,
    )
    if response.status_code != 200:
        raise ConsentFailed(f"The token endpoint refused the code: {response.text}")
    return response.json()


def tenants(settings, access_token: str) -> list[dict]:
    response = httpx.get(
        settings.xero_connections_url,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=settings.xero_timeout,
    )
    response.raise_for_status()
    return response.json()
