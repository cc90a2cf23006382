"""The official `openai` client, unchanged, against /v1/chat/completions (streamed and not) and /v1/models."""

import httpx
import openai
import pytest

from services.chat.app import create_app
from shared.db import create_sessionmaker
from tests.support.llm import answer_for
from tests.support.plugin import serve_app

from .conftest import chat_settings


@pytest.fixture
async def served(stack, db_conn, llm, redis):
    app = create_app(chat_settings(stack, llm))
    async with serve_app(app) as url:
        app.state.sessionmaker = create_sessionmaker(db_conn)
        yield url


async def test_openai_client_stream_and_not(served, make_token, tenant_id, llm):
    admin = {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role='admin')}"}
    async with httpx.AsyncClient(base_url=served) as http:
        r = await http.post("/api/v1/assistants", json={"name": "Helper", "instructions": "Be kind."}, headers=admin)
        assistant = r.json()
    key = make_token(sub="key:k1", tenant_id=tenant_id, role=None, scopes=["read", "write"])
    client = openai.AsyncOpenAI(base_url=f"{served}/v1", api_key=key, max_retries=0)
    models = await client.models.list()
    assert [m.id for m in models.data] == [assistant["id"]]

    resp = await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "What is 2+2?"}])
    assert resp.choices[0].message.content == answer_for(llm.last["messages"])
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    system = llm.last["messages"][0]["content"]
    assert "Be kind." in system and llm.last["messages"][-1] == {"role": "user", "content": "What is 2+2?"}

    stream = await client.chat.completions.create(
        model=assistant["id"],
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Tell me more"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage = [], None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
    assert "".join(parts) == answer_for(llm.last["messages"])
    assert usage is not None and usage.completion_tokens > 0
    assert [m["content"] for m in llm.last["messages"][1:]] == ["Hi", "Hello!", "Tell me more"]

    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    llm.fail(500, times=10)
    with pytest.raises(openai.InternalServerError) as err:
        await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 503
    await client.close()


async def test_openai_client_image_parts_reach_a_vision_assistant_only(served, make_token, tenant_id, llm):
    """OpenAI `image_url` parts from the official client: a vision assistant's model gets the verified bytes as a
    data URL; a blind one reads "[image]"; bytes that are no image are refused (4xx), never passed on."""
    from tests.support.images import b64, image_bytes

    png = image_bytes("PNG")
    admin = {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role='admin')}"}
    async with httpx.AsyncClient(base_url=served) as http:
        for name, vision in (("Eyes", True), ("Blind", False)):
            r = await http.post("/api/v1/assistants", json={"name": name, "vision": vision}, headers=admin)
            assert r.status_code == 201, r.text
    key = make_token(sub="key:k1", tenant_id=tenant_id, role=None, scopes=["read", "write"])
    client = openai.AsyncOpenAI(base_url=f"{served}/v1", api_key=key, max_retries=0)
    ask = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(png)}"}},  # declared wrong: a PNG
    ]
    resp = await client.chat.completions.create(model="Eyes", messages=[{"role": "user", "content": ask}])
    assert resp.choices[0].message.content == answer_for(llm.last["messages"])
    (seen,) = llm.images()
    assert seen.data == png and seen.mime_type == "image/png"
    await client.chat.completions.create(model="Blind", messages=[{"role": "user", "content": ask}])
    assert llm.images() == [] and llm.last["messages"][-1]["content"] == "[image]\nwhat is this?"
    bad = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(b"<svg/>")}}]
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(model="Eyes", messages=[{"role": "user", "content": bad}])
    assert refused.value.status_code == 415 and len(llm.requests) == 2
