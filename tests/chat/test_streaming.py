"""SSE answers over real HTTP: deltas arrive while the provider is still generating; the stored answer is the
concatenated deltas; a client that disconnects mid-stream leaves the partial answer stored as incomplete."""

import time

import httpx
import orjson
import pytest

from services.chat.app import create_app
from tests.support.llm import answer_for
from tests.support.plugin import serve_app, wait_for

from .conftest import chat_settings


@pytest.fixture
async def served(stack, committed_db, llm, redis):
    app = create_app(chat_settings(stack, llm))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def read_events(response, stop_after_deltas: int | None = None):
    events, event = [], None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event:
            events.append((event, orjson.loads(line.split(":", 1)[1].strip()), time.time()))
            if stop_after_deltas and sum(1 for e in events if e[0] == "delta") >= stop_after_deltas:
                return events
    return events


async def test_stream_deltas_then_done_with_the_stored_message(served, headers, llm):
    llm.chunk_delay = 0.05
    thread = (await served.post("/api/v1/threads", json={"title": "s"}, headers=headers)).json()
    sse = headers | {"Accept": "text/event-stream"}
    async with served.stream(
        "POST", f"/api/v1/threads/{thread['id']}/messages", json={"content": "Stream me a reply"}, headers=sse
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = await read_events(r)
    kinds = [e[0] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("delta") >= 5
    deltas = [e for e in events if e[0] == "delta"]
    # the first delta reached the client well before the provider finished generating
    assert deltas[0][2] < llm.finished_at[-1] - 0.1
    done = events[-1][1]
    assert done["content"] == "".join(d[1]["content"] for d in deltas) == answer_for(llm.last["messages"])
    assert done["incomplete"] is False and done["role"] == "assistant"
    history = (await served.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert [m["content"] for m in history] == ["Stream me a reply", done["content"]]
    assert history[1]["tokens_in"] > 0 and history[1]["tokens_out"] > 0


async def test_disconnect_mid_stream_stores_the_partial_answer_as_incomplete(served, headers, llm):
    llm.chunk_delay = 0.2
    thread = (await served.post("/api/v1/threads", json={}, headers=headers)).json()
    sse = headers | {"Accept": "text/event-stream"}
    async with served.stream(
        "POST", f"/api/v1/threads/{thread['id']}/messages", json={"content": "a long answer please"}, headers=sse
    ) as r:
        events = await read_events(r, stop_after_deltas=2)
    received = "".join(e[1]["content"] for e in events if e[0] == "delta")
    full = answer_for(llm.last["messages"])
    assert received and full.startswith(received) and received != full

    async def stored():
        items = (await served.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
        return items if len(items) == 2 else None

    items = await wait_for(stored, timeout=10)
    partial = items[1]
    assert partial["incomplete"] is True and partial["role"] == "assistant"
    assert full.startswith(partial["content"]) and len(partial["content"]) >= len(received)
    assert partial["content"] != full


async def test_provider_down_before_streaming_is_a_503_problem(served, headers, llm):
    llm.fail(500, times=10)
    thread = (await served.post("/api/v1/threads", json={}, headers=headers)).json()
    r = await served.post(
        f"/api/v1/threads/{thread['id']}/messages",
        json={"content": "hello?"},
        headers=headers | {"Accept": "text/event-stream"},
    )
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    items = (await served.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert [m["content"] for m in items] == ["hello?"]
