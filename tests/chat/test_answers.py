"""Provider failures, takeover, knowledge-only mode, message limits and the one-call /api/v1/chat."""

import time

import pytest
from sqlalchemy import text

from services.chat.app import create_app
from tests.support.llm import answer_for
from tests.support.plugin import app_client

from .conftest import chat_settings, new_thread, post


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])  # CHAT_LLM_HTTP_TRANSPORT: the SDK's retries on both
async def test_429_then_success_is_answered(stack, db_conn, llm, headers, transport):
    app = create_app(chat_settings(stack, llm, llm_http_transport=transport))
    async with app_client(app, db_conn=db_conn) as chat_client:
        thread = await new_thread(chat_client, headers)
        llm.fail(429, times=1)
        r = await post(chat_client, headers, thread["id"], "are you there?")
        assert r.status_code == 201, r.text
        assert len(llm.requests) == 2  # the SDK retried after the 429
        assert r.json()["assistant_message"]["content"] == answer_for(llm.last["messages"])
        client = next(iter(app.state.chat.llm._clients.values()))  # noqa: SLF001 - which transport it was built on
        assert (type(client._client).__name__ == "_InstalledAioHttpClient") == (transport == "aiohttp")  # noqa: SLF001


async def test_provider_always_500_gives_503_and_keeps_the_user_message(chat_client, headers, llm):
    thread = await new_thread(chat_client, headers)
    llm.fail(500, times=100)
    r = await post(chat_client, headers, thread["id"], "please keep me")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 503 and body["code"] == "llm_unavailable" and "HTTP 500" in body["detail"]
    assert len(llm.requests) == 3  # first try + CHAT_LLM_MAX_RETRIES=2
    items = (await chat_client.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert [(m["role"], m["content"]) for m in items] == [("user", "please keep me")]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_hanging_provider_times_out_as_503(stack, db_conn, llm, headers, transport):
    settings = chat_settings(stack, llm, llm_timeout_seconds=0.3, llm_max_retries=0, llm_http_transport=transport)
    app = create_app(settings)
    async with app_client(app, db_conn=db_conn) as client:
        thread = await new_thread(client, headers)
        llm.hang(seconds=3)
        started = time.monotonic()
        r = await post(client, headers, thread["id"], "hello")
        assert r.status_code == 503 and "in time" in r.json()["detail"]
        assert time.monotonic() - started < 2.5


async def test_ai_off_never_calls_the_llm(chat_client, headers, llm):
    thread = await new_thread(chat_client, headers)
    r = await chat_client.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": False}, headers=headers)
    assert r.status_code == 200 and r.json()["ai_enabled"] is False
    r = await post(chat_client, headers, thread["id"], "is a human here?")
    assert r.status_code == 201 and r.json()["assistant_message"] is None
    r = await chat_client.post(
        f"/api/v1/threads/{thread['id']}/messages",
        json={"content": "stream?"},
        headers=headers | {"Accept": "text/event-stream"},
    )
    assert r.status_code == 200 and "event: done" in r.text
    assert llm.requests == []


async def test_knowledge_only_mode_hands_over_without_search(stack, db_conn, headers, llm):
    app = create_app(chat_settings(stack, None, handover_message="A human will answer soon."))
    async with app_client(app, db_conn=db_conn) as client:
        thread = await new_thread(client, headers, message="What are your opening hours?")
        answer = thread["assistant_message"]
        assert answer["model"] == "knowledge-only" and answer["content"] == "A human will answer soon."
        got = (await client.get(f"/api/v1/threads/{thread['id']}", headers=headers)).json()
        assert got["needs_human"] is True
        # an agent's reply clears the flag
        await post(client, headers, thread["id"], "We open at 9.", role="agent", operator_name="Bia")
        got = (await client.get(f"/api/v1/threads/{thread['id']}", headers=headers)).json()
        assert got["needs_human"] is False
    assert llm.requests == []


async def test_message_length_limit_is_a_clear_422(chat_client, headers, llm):
    thread = await new_thread(chat_client, headers)
    r = await post(chat_client, headers, thread["id"], "x" * 4001)
    assert r.status_code == 422 and r.json()["code"] == "message_too_long" and "4000" in r.json()["detail"]
    assert (await post(chat_client, headers, thread["id"], "   ")).status_code == 422
    r = await chat_client.post(f"/api/v1/threads/{thread['id']}/messages", json={"content": 5}, headers=headers)
    assert r.status_code == 422
    assert llm.requests == []


async def test_one_call_chat_and_usage_recorded(chat_client, headers, llm, tenant_id, db_conn):
    r = await chat_client.post("/api/v1/chat", json={"message": "Hi!"}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reply"] == answer_for(llm.last["messages"])
    r = await chat_client.post(
        "/api/v1/chat", json={"message": "Again", "thread_id": body["thread_id"]}, headers=headers
    )
    assert r.json()["thread_id"] == body["thread_id"]
    assert [m["content"] for m in llm.last["messages"][1:]] == ["Hi!", body["reply"], "Again"]
    row = (
        await db_conn.execute(
            text("SELECT requests, tokens_in, tokens_out FROM chat.token_usage WHERE tenant_id = :t"), {"t": tenant_id}
        )
    ).one()
    assert row[0] == 2 and row[1] > 0 and row[2] > 0
