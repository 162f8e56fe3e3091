"""A fake OpenAI-compatible server (FastAPI on 127.0.0.1) that the real ChatOpenAI and
OpenAIEmbeddings clients talk to, so every model path is tested without the internet.

Endpoints: POST /v1/chat/completions (plain, streamed as SSE chunks, and structured
output: a request with `response_format` json_schema gets JSON content) and
POST /v1/embeddings (deterministic vectors from a hash of the text).

Replies are scripted per kind, "classify" (requests with response_format) and "reply"
(the rest), as a queue of steps; each request takes the next step of its kind:

    {"content": "text"}           a reply (streamed word by word when the client streams)
    {"json": {...}}               structured output (sent as the JSON content)
    {"status": 429 | 500 | ...}   an error response
    {"delay": 2.0, ...}           wait before answering (then the rest of the step)
    {"malformed": True}           a body that is not JSON (or, for classify, broken JSON content)
    {"first_token_delay": s, "token_delay": s}   pacing of a streamed reply

With no step queued: a classify request answers `classifier(message)` (by default
out_of_scope), and a reply request echoes the CORRECT REPLY of its prompt, which is
grounded by construction. Every request is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.support.servers import free_port

EMBEDDING_DIM = 64


def default_classification(message: str) -> dict:
    return {
        "intent": "out_of_scope", "confidence": 0.5, "order_numbers": [], "items": [],
        "delivery_day": None, "hours_before": None,
    }


def classification(intent: str, confidence: float = 0.9, **fields) -> dict:
    """A structured-output answer with every schema field (strict json_schema)."""
    return {**default_classification(""), "intent": intent, "confidence": confidence, **fields}


class FakeOpenAI:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.steps: dict[str, deque] = {"classify": deque(), "reply": deque()}
        self.requests: list[tuple[str, dict]] = []
        self.classifier: Callable[[str], dict] = default_classification
        # Pacing of default streamed replies (the benchmark sets these).
        self.first_token_delay = 0.0
        self.token_delay = 0.0
        self.app = self._make_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------
    def script(self, kind: str, *steps: dict) -> None:
        self.steps[kind].extend(steps)

    def reset(self) -> None:
        for queue in self.steps.values():
            queue.clear()
        self.requests.clear()
        self.classifier = default_classification
        self.first_token_delay = self.token_delay = 0.0

    def calls(self, kind: str | None = None) -> list[dict]:
        return [body for k, body in self.requests if kind is None or k == kind]

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    # --- the API -----------------------------------------------------------------
    def _make_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            kind = "classify" if body.get("response_format") else "reply"
            self.requests.append((kind, body))
            step = self.steps[kind].popleft() if self.steps[kind] else {}
            if step.get("delay"):
                await asyncio.sleep(step["delay"])
            if "status" in step:
                return JSONResponse(
                    {"error": {"message": f"scripted {step['status']}", "type": "scripted", "code": None}},
                    status_code=step["status"],
                )
            if step.get("malformed") and (kind == "reply" or body.get("stream")):
                return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
            if kind == "classify":
                if step.get("malformed"):
                    content = '{"intent": "greeting", "confidence": '
                else:
                    content = json.dumps(step.get("json") or self.classifier(_last_user_text(body)))
            else:
                content = step.get("content") or _correct_reply(body)
            usage = {
                "prompt_tokens": _prompt_tokens(body),
                "completion_tokens": max(1, len(content) // 4),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if body.get("stream"):
                return StreamingResponse(
                    self._chunks(body, content, usage, step), media_type="text/event-stream"
                )
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "finish_reason": "stop", "logprobs": None}
                ],
                "usage": usage,
            }

        @app.post("/v1/embeddings")
        async def embeddings(request: Request):
            body = await request.json()
            self.requests.append(("embeddings", body))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return {
                "object": "list",
                "model": body.get("model", "fake"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": hash_vector(str(t))}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }

        return app

    async def _chunks(self, body: dict, content: str, usage: dict, step: dict):
        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            data = {
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        first = step.get("first_token_delay", self.first_token_delay)
        between = step.get("token_delay", self.token_delay)
        yield chunk({"role": "assistant", "content": ""})
        if first:
            await asyncio.sleep(first)
        for i, word in enumerate(re.findall(r"\S+\s*", content)):
            if i and between:
                await asyncio.sleep(between)
            yield chunk({"content": word})
        yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "fake"), "choices": [], "usage": usage}
            yield f"data: {json.dumps(data)}\n\n"
        yield "data: [DONE]\n\n"


def hash_vector(text: str) -> list[float]:
    """A unit vector from the text's hash: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest() * 2
    raw = [b - 127.5 for b in digest[:EMBEDDING_DIM]]
    norm = sum(v * v for v in raw) ** 0.5
    return [v / norm for v in raw]


def _text(content) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _last_user_text(body: dict) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return _text(users[-1]["content"]) if users else ""


def _correct_reply(body: dict) -> str:
    text = _last_user_text(body)
    match = re.search(r"CORRECT REPLY:\n(.*?)\n\nCUSTOMER MESSAGE", text, re.S)
    return match.group(1).strip() if match else "Hello from the fake model."


def _prompt_tokens(body: dict) -> int:
    return max(1, sum(len(_text(m.get("content"))) for m in body["messages"]) // 4)
