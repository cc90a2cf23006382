"""Human review, agent replies and the events they leave in the outbox."""

import uuid

from sqlalchemy import text

from shared.events.chat import OUTBOUND_STREAM
from shared.events.search import INDEX_STREAM

from .conftest import new_thread, post


async def outbox(db_conn, stream):
    rows = await db_conn.execute(
        text("SELECT payload FROM chat.outbox WHERE stream = :s ORDER BY created_at"), {"s": stream}
    )
    return [r[0] for r in rows]


async def channel_thread(client, headers):
    channel_id = str(uuid.uuid4())
    r = await client.post(
        "/api/v1/contacts",
        json={"name": "Joao", "channel": "telegram", "channel_id": channel_id, "external_id": "55123"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return await new_thread(client, headers, contact_id=r.json()["id"]), channel_id


async def test_agent_reply_goes_out_on_chat_outbound(chat_client, headers, db_conn, llm):
    thread, channel_id = await channel_thread(chat_client, headers)
    assert thread["channel"] == "telegram"
    r = await post(chat_client, headers, thread["id"], "I'll check your order now.", role="agent", operator_name="Bia")
    assert r.status_code == 201, r.text
    reply = r.json()["user_message"]
    assert reply["role"] == "agent" and reply["validated_by"] == "human" and reply["operator_name"] == "Bia"
    assert r.json()["assistant_message"] is None and llm.requests == []
    (event,) = await outbox(db_conn, OUTBOUND_STREAM)
    assert event["channel_id"] == channel_id and event["recipient"] == "55123"
    assert event["text"] == "I'll check your order now." and event["message_id"] == reply["id"]
    # every stored message is also sent for indexing
    assert [e["message_id"] for e in await outbox(db_conn, INDEX_STREAM)] == [reply["id"]]


async def test_ai_answer_on_a_channel_thread_goes_out_and_api_threads_do_not(chat_client, headers, db_conn, llm):
    thread, _ = await channel_thread(chat_client, headers)
    r = await post(chat_client, headers, thread["id"], "hello bot")
    answer = r.json()["assistant_message"]
    (event,) = await outbox(db_conn, OUTBOUND_STREAM)
    assert event["message_id"] == answer["id"] and event["text"] == answer["content"]
    await new_thread(chat_client, headers, message="web visitor")  # not a channel thread: nothing to send
    assert len(await outbox(db_conn, OUTBOUND_STREAM)) == 1
    assert len(await outbox(db_conn, INDEX_STREAM)) == 4


async def test_pending_answer_is_sent_only_after_approval(chat_auth, auth, db_conn, llm):
    _, headers = await auth.tenant_admin(require_approval=True)
    thread, _ = await channel_thread(chat_auth, headers)
    r = await post(chat_auth, headers, thread["id"], "can I get a refund?")
    answer = r.json()["assistant_message"]
    assert answer["validated_by"] == "pending"
    assert await outbox(db_conn, OUTBOUND_STREAM) == []
    r = await chat_auth.patch(
        f"/api/v1/messages/{answer['id']}",
        json={
            "validated_by": "human",
            "review": "approved",
            "corrected_content": "Yes, within 7 days.",
            "operator_name": "Carla",
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    reviewed = r.json()
    assert reviewed["validated_by"] == "human" and reviewed["review"] == "approved"
    assert reviewed["operator_name"] == "Carla" and reviewed["corrected_content"] == "Yes, within 7 days."
    (event,) = await outbox(db_conn, OUTBOUND_STREAM)
    assert event["text"] == "Yes, within 7 days." and event["message_id"] == answer["id"]
    # a second review does not send again
    r = await chat_auth.patch(f"/api/v1/messages/{answer['id']}", json={"review": "rejected"}, headers=headers)
    assert r.status_code == 200 and len(await outbox(db_conn, OUTBOUND_STREAM)) == 1


async def test_review_rules(chat_client, headers, llm):
    thread = await new_thread(chat_client, headers, message="hi")
    user_msg, answer = thread["user_message"], thread["assistant_message"]
    r = await chat_client.patch(f"/api/v1/messages/{user_msg['id']}", json={"review": "approved"}, headers=headers)
    assert r.status_code == 409
    r = await chat_client.patch(f"/api/v1/messages/{answer['id']}", json={"review": "maybe"}, headers=headers)
    assert r.status_code == 422
    r = await chat_client.patch(f"/api/v1/messages/{answer['id']}", json={"review": "rejected"}, headers=headers)
    assert r.status_code == 200 and r.json()["review"] == "rejected"
    # a rejected answer (without correction) is left out of the next context
    await post(chat_client, headers, thread["id"], "next")
    assert [m["content"] for m in llm.last["messages"][1:]] == ["hi", "next"]
