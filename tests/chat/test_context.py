"""Context assembly: tenant prompt + instructions + facts, history within the message limit and token budget."""

from services.chat.context.builder import HistoryMessage, TokenCounter, select_history

from .conftest import new_thread, post


async def test_system_prompt_has_tenant_prompt_instructions_and_facts(chat_auth, auth, llm):
    tenant_id, headers = await auth.tenant_admin(system_prompt="You work for Acme Pizza.", timezone="Asia/Tokyo")
    r = await chat_auth.post(
        "/api/v1/assistants", json={"name": "Ana", "instructions": "Answer in one line."}, headers=headers
    )
    assert r.status_code == 201, r.text
    contact = await chat_auth.post("/api/v1/contacts", json={"name": "Maria Silva"}, headers=headers)
    assert contact.status_code == 201, contact.text
    await new_thread(chat_auth, headers, contact_id=contact.json()["id"], message="Do you deliver?")
    system = llm.last["messages"][0]
    assert system["role"] == "system"
    text = system["content"]
    assert text.index("You work for Acme Pizza.") < text.index("Answer in one line.")
    assert "Customer name: Maria Silva" in text and "Channel: api" in text and "(Asia/Tokyo)" in text
    # the tenant's model/key did not change, so the platform default model answered
    assert llm.last["model"] == "stand-in-model"


async def test_history_keeps_the_last_ten_messages(chat_client, headers, llm):
    thread = await new_thread(chat_client, headers)
    await chat_client.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": False}, headers=headers)
    for i in range(1, 11):  # 10 stored messages, AI off: no answers
        assert (await post(chat_client, headers, thread["id"], f"message {i:02d}")).status_code == 201
    assert llm.requests == []
    await chat_client.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": True}, headers=headers)
    r = await post(chat_client, headers, thread["id"], "message 11")
    assert r.status_code == 201, r.text
    sent = [m["content"] for m in llm.last["messages"][1:]]
    # 11 messages, limit 10: the oldest is gone, order is oldest -> newest
    assert sent == [f"message {i:02d}" for i in range(2, 12)]


async def test_history_trimmed_to_the_token_budget_newest_first_never_cut(stack, db_conn, llm, headers):
    from services.chat.app import create_app
    from tests.support.plugin import app_client

    from .conftest import chat_settings

    app = create_app(chat_settings(stack, llm, context_token_budget=120))
    async with app_client(app, db_conn=db_conn) as client:
        thread = await new_thread(client, headers)
        await client.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": False}, headers=headers)
        long = " ".join(["pizza"] * 40)  # ~40 tokens each
        for i in range(4):
            await post(client, headers, thread["id"], f"{i} {long}")
        await client.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": True}, headers=headers)
        assert (await post(client, headers, thread["id"], "newest question")).status_code == 201
    sent = [m["content"] for m in llm.last["messages"][1:]]
    counter = TokenCounter()
    assert sent[-1] == "newest question"
    assert sent == [f"{i} {long}" for i in (2, 3)] + ["newest question"]  # whole messages only, newest kept
    assert sum(counter.count(s) + 4 for s in sent) <= 120


def test_select_history_counts_with_tiktoken():
    counter = TokenCounter()
    assert counter.count("hello world") == 2  # cl100k, not a character estimate
    msgs = [HistoryMessage("user", "a " * 50), HistoryMessage("assistant", "b"), HistoryMessage("user", "c")]
    budget = counter.count("a " * 50) + 4 + 2  # the newest fits, the next one (5 tokens) does not
    chosen = select_history(msgs, max_messages=10, token_budget=budget, counter=counter)
    assert [m.content for m in chosen] == ["a " * 50]  # newest first in, the next does not fit whole
    assert select_history(msgs, max_messages=2, token_budget=10_000, counter=counter) == msgs[:2][::-1]
