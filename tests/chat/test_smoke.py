from tests.support.llm import answer_for

from .conftest import new_thread, post


async def test_first_exchange_and_answer(chat_client, headers, llm):
    r = await chat_client.post("/api/v1/assistants", json={"name": "Ana", "instructions": "Be brief."}, headers=headers)
    assert r.status_code == 201, r.text
    thread = await new_thread(chat_client, headers, message="Hello there")
    assert thread["user_message"]["content"] == "Hello there"
    answer = thread["assistant_message"]
    assert answer["content"] == answer_for(llm.last["messages"])
    assert answer["validated_by"] == "ai" and answer["model"] == "stand-in-model"
    assert answer["tokens_in"] > 0 and answer["tokens_out"] > 0 and answer["latency_ms"] >= 0
    r = await post(chat_client, headers, thread["id"], "And again")
    assert r.status_code == 201, r.text
    assert [m["content"] for m in llm.last["messages"][1:]] == ["Hello there", answer["content"], "And again"]
