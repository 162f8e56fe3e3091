"""Schemathesis against the app's OpenAPI schema, with credentials: no 5xx, ever, and
every answer as the schema documents it (status, content type, body).

Every operation of /openapi.json gets a bounded number of generated requests (valid
ones, then ones that break the schema), deterministic (`derandomize`), through the
module's server (the seeded embedded VAR_DIR: real turns through the graph). Customer
routes carry an OUT-001 token, /api/admin an administrator's, /api/auth/logout a fresh
token each time (it revokes what it carries). The garbage-credentials test sends random
bytes and huge values as `Authorization` and `X-API-Key` to the customer routes.

`FUZZED` counts what was sent and what came back 5xx; docs/security.md records a run
(`-s` prints the counts).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.test_server import private_var, serving, wait_ready
from tests.support.auth import bearer

pytestmark = pytest.mark.slow

EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 40}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Requests sent and statuses seen, per test: the figures in docs/security.md.
FUZZED: Counter = Counter()


@pytest.fixture(scope="module")
def client(seeded_var, tmp_path_factory):
    var = private_var(seeded_var, tmp_path_factory.mktemp("fuzz") / "var")
    with serving(var, auth=False) as client:
        wait_ready(client)
        yield client
    print("\nfuzzed:", dict(sorted(FUZZED.items())))


@pytest.fixture(scope="module")
def api_schema(client):
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


def credentials_for(client, path: str) -> dict[str, str]:
    auth = client.app.state.bot.auth
    if path.startswith("/api/admin"):
        return {"Authorization": "Bearer " + auth.issue_for_staff("admin@tria.example", timedelta(hours=1)).token}
    return bearer("OUT-001")  # a fresh token: logout revokes the one it carries


def send(client, case, headers: dict[str, str]):
    """The case through the module's TestClient (its event loop, its loaded bot)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    return client.request(
        kwargs["method"], kwargs["url"], headers=kwargs["headers"], params=kwargs.get("params"),
        cookies=kwargs.get("cookies") or None, **body,
    )


def no_error_event(response, case) -> None:
    """A streamed turn that fails after its 200 reports `event: error`: a 5xx in disguise."""
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("text/event-stream"):
        assert "event: error" not in response.text, response.text[-500:]


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_every_operation_with_credentials_never_answers_5xx(client, api_schema, mode):
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    failures = []
    for operation in operations(api_schema):
        label = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case):
            response = send(client, case, credentials_for(client, operation.path))
            FUZZED["sent"] += 1
            FUZZED[f"sent {label}"] += 1
            FUZZED[f"{response.status_code // 100}xx"] += 1
            no_error_event(response, case)
            case.validate_response(response, checks=checks)

        try:
            fuzz()
        except Unsatisfiable:  # nothing to break: no parameters and no body (GET /health...)
            assert mode is GenerationMode.NEGATIVE, label
        except Exception as exc:  # every operation is fuzzed; all failures are reported together
            failures.append(f"{label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


CUSTOMER_ROUTES = [
    ("POST", "/api/chatbot", {"message": "hello", "session_id": "fz-garbage"}),
    ("POST", "/api/chatbot/stream", {"message": "hello", "session_id": "fz-garbage"}),
    ("GET", "/api/sessions/fz-garbage/messages", None),
    ("GET", "/api/auth/me", None),
    ("POST", "/api/auth/logout", None),
]
garbage = st.one_of(
    st.binary(min_size=0, max_size=64),
    st.binary(min_size=0, max_size=64).map(lambda b: b"Bearer " + b),
    st.text(min_size=0, max_size=64).map(lambda t: ("Bearer " + t).encode("utf-8")),
    st.integers(1_000, 60_000).map(lambda n: b"Bearer " + b"A" * n),
    st.integers(1_000, 60_000).map(lambda n: b"Bearer eyJ" + b"." * (n % 7) + b"x" * n),
    st.sampled_from([b"Bearer", b"Bearer  ", b"bearer a.b.c", b"Basic Zm9vOmJhcg==", b"Bearer eyJhbGciOiJub25lIn0.e30."]),
)


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_garbage_credentials_on_the_customer_routes_never_answer_5xx(client, header):
    @settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(value=garbage, route=st.sampled_from(CUSTOMER_ROUTES))
    def fuzz(value, route):
        method, path, body = route
        value = value.replace(b"\r", b"").replace(b"\n", b"")  # no header splitting: the client refuses those
        response = client.request(method, path, headers={header: value}, json=body,
                                  params={"customer_id": "OUT-001"} if header == "X-API-Key" else None)
        FUZZED["garbage sent"] += 1
        FUZZED[f"garbage {response.status_code // 100}xx"] += 1
        assert response.status_code in (401, 422) or (value.strip() == b"" and response.status_code == 401), response.text
        assert response.status_code < 500

    fuzz()
