"""The `search_knowledge` built-in through the whole stack: a document uploaded through the gateway, indexed by the
search worker with the packaged local embedding model, found by the tool the model calls, handed back to the model
and stored as the `tool` message; the answer comes after it."""

from __future__ import annotations

import orjson

from tests.chat.tools.conftest import tools_platform
from tests.support.platform import SERVED
from tests.support.plugin import wait_for

PASSAGE = "Returns: any unused item can be returned within 30 days of delivery for a full refund."
DOCUMENT = f"# Acme help\n\n{PASSAGE}\n\nOur shop in Porto opens Monday to Saturday from 9am to 7pm.\n"


async def test_search_knowledge_finds_the_tenants_document(stack, committed_db, tmp_path):
    chat = {"search_url": f"{SERVED}search", "knowledge_threshold": 0.1}
    async with tools_platform(stack, tmp_path, services=("auth", "search", "chat"), chat=chat) as p:
        t = await p.tenant("Acme")
        r = await p.gw.post(
            "/api/v1/documents", headers=t.headers, files={"file": ("help.md", DOCUMENT.encode(), "text/markdown")}
        )
        assert r.status_code == 202, r.text
        doc_id = r.json()["id"]
        p.start_worker("search")

        async def ready() -> bool:
            doc = (await p.gw.get(f"/api/v1/documents/{doc_id}", headers=t.headers)).json()
            assert doc["status"] in ("processing", "ready"), doc
            return doc["status"] == "ready"

        await wait_for(ready, timeout=120, interval=0.2)
        assistant = await p.assistant(t)
        await p.add_tool(t, assistant, type="builtin", name="search_knowledge")
        p.llm.script_tools([{"name": "search_knowledge", "arguments": {"query": "how many days do I have to return"}}])
        r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "can I still send it back?"})
        assert r.status_code == 200 and r.json()["reply"], r.text

        [handed] = [m for m in p.llm.requests[-1]["body"]["messages"] if m["role"] == "tool"]
        results = orjson.loads(handed["content"])["results"]
        assert results and "30 days" in results[0]["text"] and results[0]["source"] == "documents"
        msgs = await p.messages(t, r.json()["thread_id"])
        assert [m["role"] for m in msgs] == ["user", "tool", "assistant"]
        assert msgs[1]["tool_name"] == "search_knowledge" and msgs[1]["status"] == "ok"
        assert PASSAGE in msgs[1]["result"] and msgs[2]["content"] == r.json()["reply"]
