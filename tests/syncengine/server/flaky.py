"""A tiny ASGI front for a real server that fails on command: ``python flaky.py UPSTREAM PORT``.

``PUT /_flaky`` with ``{"plan": [...]}`` queues what the next requests get, one
item each: a status (answered without reaching the server, with ``Retry-After``
from ``retry_after`` when given), or ``"lose"`` (forwarded, then answered 503 as
if the answer had been lost on the way back). Requests beyond the plan are
forwarded unchanged. ``GET /_flaky`` tells how many requests came and failed since
the last plan; ``PUT`` answers the same about the plan it replaces.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import orjson
import uvicorn

UPSTREAM, PORT = sys.argv[1], int(sys.argv[2])
state: dict[str, Any] = {"plan": [], "retry_after": None, "seen": 0, "failed": 0}
client = httpx.AsyncClient(base_url=UPSTREAM, timeout=60)


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await _body(receive)
    if scope["path"] == "/_flaky":
        counts = {"seen": state["seen"], "failed": state["failed"], "left": len(state["plan"])}
        if scope["method"] == "PUT":
            doc = orjson.loads(body)
            state.update(plan=list(doc["plan"]), retry_after=doc.get("retry_after"), seen=0, failed=0)
        await _answer(send, 200, orjson.dumps(counts), [(b"content-type", b"application/json")])
        return
    state["seen"] += 1
    step = state["plan"].pop(0) if state["plan"] else None
    failure = [(b"content-type", b"application/json")]
    if state["retry_after"] is not None:
        failure.append((b"retry-after", str(state["retry_after"]).encode()))
    if isinstance(step, int):
        state["failed"] += 1
        await _answer(send, step, orjson.dumps({"error": f"injected {step}"}), failure)
        return
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")}
    headers["accept-encoding"] = "identity"
    path = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
    upstream = await client.request(scope["method"], path, content=body, headers=headers)
    if step == "lose":
        state["failed"] += 1
        await _answer(send, 503, orjson.dumps({"error": "injected: the answer was lost"}), failure)
        return
    keep = [
        (k.encode(), v.encode()) for k, v in upstream.headers.items() if k not in ("content-length", "content-encoding")
    ]
    await _answer(send, upstream.status_code, upstream.content, keep)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
