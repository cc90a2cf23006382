"""The tool loop through the gateway: signed and validated HTTP calls, results handed back, tool messages stored;
parallel calls, a timeout and a 500, schema-invalid arguments, the round limit, handover, SSE events."""

from __future__ import annotations

import asyncio

import orjson

from tests.chat.tools.conftest import TOOL_SECRET, tools_platform
from tests.support.platform import SSEListener
from tests.support.plugin import wait_for

SERVICES = ("auth", "chat")


def tool_turns(request: dict) -> list[dict]:
    return [m for m in request["body"]["messages"] if m["role"] == "tool"]


async def test_http_tool_signed_validated_result_handed_back_and_stored(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=SERVICES) as p:
        t = await p.tenant("Shop", secrets={"orders_hook": TOOL_SECRET})
        assistant = await p.assistant(t)
        tool = await p.http_tool(t, assistant, "check_order", secret_name="orders_hook")
        assert tool["secret_name"] == "orders_hook" and TOOL_SECRET not in orjson.dumps(tool).decode()
        listed = (await p.gw.get(f"/api/v1/assistants/{assistant}/tools", headers=t.headers)).json()["items"]
        assert [x["id"] for x in listed] == [tool["id"]]

        p.llm.script_tools([{"name": "check_order", "arguments": {"order_id": "42"}}])
        async with SSEListener(p.gw, "/api/v1/events", t.headers) as feed:
            r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "where is order 42?"})
            assert r.status_code == 200, r.text
            reply = r.json()
            # the console's live feed hears of the tool message like of any other (no worker: sent by the loop)
            created = orjson.loads((await feed.next("message.created", timeout=5.0)).data)

        [call] = p.tools.calls
        assert call.arguments == {"order_id": "42"}
        assert call.signature_valid is True
        assert len(call.headers["idempotency-key"]) == 64
        first, second = p.llm.requests
        assert [f["function"]["name"] for f in first["body"]["tools"]] == ["check_order"]
        [handed] = tool_turns(second)
        assert orjson.loads(handed["content"])["echo"] == {"order_id": "42"}
        assert handed["tool_call_id"] == second["body"]["messages"][-2]["tool_calls"][0]["id"]

        msgs = await p.messages(t, reply["thread_id"])
        assert [m["role"] for m in msgs] == ["user", "tool", "assistant"]
        stored = msgs[1]
        assert (created["message_id"], created["thread_id"], created["role"]) == (
            stored["id"],
            reply["thread_id"],
            "tool",
        )
        assert stored["tool_name"] == "check_order" and stored["arguments"] == {"order_id": "42"}
        assert stored["status"] == "ok" and orjson.loads(stored["result"])["ok"] is True
        assert isinstance(stored["latency_ms"], int)
        assert msgs[2]["content"] == reply["reply"]

        # "try it" from the console: the same guarded, signed path, nothing stored
        r = await p.gw.post(
            f"/api/v1/assistants/{assistant}/tools/{tool['id']}/test",
            headers=t.headers,
            json={"arguments": {"order_id": "7"}},
        )
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        assert p.tools.calls[-1].signature_valid is True and p.tools.calls[-1].arguments == {"order_id": "7"}
        r = await p.gw.post(
            f"/api/v1/assistants/{assistant}/tools/{tool['id']}/test", headers=t.headers, json={"arguments": {}}
        )
        assert r.json()["status"] == "error" and "order_id" in r.json()["result"] and len(p.tools.calls) == 2


async def test_parallel_calls_timeout_500_invalid_arguments_and_round_limit(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=SERVICES) as p:
        t = await p.tenant("Many", secrets={"orders_hook": TOOL_SECRET})
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "check_order", secret_name="orders_hook")
        await p.http_tool(t, assistant, "slow", timeout_seconds=0.5)
        await p.http_tool(t, assistant, "broken")
        p.tools.hangs["slow"] = 5
        p.tools.statuses["broken"] = 500
        release = p.tools.hold("check_order")
        p.llm.script_tools(
            [
                {"name": "check_order", "arguments": {"order_id": "1"}},
                {"name": "slow", "arguments": {"order_id": "2"}},
                {"name": "broken", "arguments": {"order_id": "3"}},
                {"name": "check_order", "arguments": {"order_id": "not-a-number"}},
                {"name": "check_order", "arguments": "{not json"},
            ]
        )
        asked = asyncio.create_task(p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "status?"}))
        # all three valid calls are in flight at once while check_order is held: they run in parallel
        await wait_for(lambda: {c.name for c in p.tools.calls} == {"check_order", "slow", "broken"}, timeout=10)
        release.set()
        r = await asyncio.wait_for(asked, 30)
        assert r.status_code == 200, r.text
        assert len(p.tools.named("check_order")) == 1  # the invalid arguments never reached the tool
        statuses = [
            (m["tool_name"], m["status"]) for m in await p.messages(t, r.json()["thread_id"]) if m["role"] == "tool"
        ]
        assert statuses == [
            ("check_order", "ok"), ("slow", "timeout"), ("broken", "error"), ("check_order", "error"),
            ("check_order", "error"),
        ]  # fmt: skip
        results = [m["content"] for m in tool_turns(p.llm.requests[-1])]
        assert results[1].startswith("ERROR (timeout)") and "HTTP 500" in results[2]
        assert "order_id" in results[3] and "not valid JSON" in results[4]

        # the round limit: a model that keeps calling gets CHAT_TOOLS_MAX_ROUNDS (5) rounds, then no tools
        p.llm.reset()
        p.llm.script_tools([{"name": "check_order", "arguments": {"order_id": "9"}}], repeat=True)
        calls_before = len(p.tools.calls)
        r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "again"})
        assert r.status_code == 200 and r.json()["reply"], r.text
        assert len(p.tools.calls) - calls_before == 5
        assert len(p.llm.requests) == 6
        assert all("tools" in q["body"] for q in p.llm.requests[:5]) and "tools" not in p.llm.requests[5]["body"]


async def test_handover_to_human_and_the_time_budget(stack, committed_db, tmp_path):
    """handover_to_human stops the AI and queues the thread; a tool slower than CHAT_TOOLS_TIME_BUDGET_SECONDS is cut
    at the budget (an error result for the model), which is then asked without tools, and the answer comes."""
    async with tools_platform(stack, tmp_path, services=SERVICES, chat={"tools_time_budget_seconds": 1.5}) as p:
        t = await p.tenant("Desk")
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "slow", timeout_seconds=10)
        p.tools.hangs["slow"] = 4
        p.llm.script_tools([{"name": "slow", "arguments": {"order_id": "1"}}], repeat=True)
        r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "is it there yet?"})
        assert r.status_code == 200 and r.json()["reply"], r.text
        assert len(p.tools.named("slow")) == 1  # the budget was spent in the first round: no second one
        first, last = p.llm.requests
        assert "tools" in first["body"] and "tools" not in last["body"]
        assert tool_turns(last)[0]["content"].startswith("ERROR (timeout)")
        msgs = await p.messages(t, r.json()["thread_id"])
        assert [m["role"] for m in msgs] == ["user", "tool", "assistant"]
        assert msgs[1]["status"] == "timeout" and msgs[1]["latency_ms"] < 4000  # cut by the budget, not the 10 s
        assert msgs[2]["content"] == r.json()["reply"]

        p.llm.reset()
        await p.add_tool(t, assistant, type="builtin", name="handover_to_human")
        p.llm.script_tools([{"name": "handover_to_human", "arguments": {"reason": "asked for a person"}}])
        r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "I want a human"})
        assert r.status_code == 200, r.text
        thread_id = r.json()["thread_id"]
        thread = (await p.gw.get(f"/api/v1/threads/{thread_id}", headers=t.headers)).json()
        assert thread["ai_enabled"] is False and thread["needs_human"] is True
        asked = len(p.llm.requests)
        r = await p.gw.post(f"/api/v1/threads/{thread_id}/messages", headers=t.headers, json={"content": "hello?"})
        assert r.status_code == 201 and r.json()["assistant_message"] is None
        assert len(p.llm.requests) == asked  # no AI on the thread any more


async def test_sse_streams_tool_call_and_result_before_the_answer(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=SERVICES) as p:
        t = await p.tenant("Stream", secrets={"orders_hook": TOOL_SECRET})
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "check_order", secret_name="orders_hook")
        r = await p.gw.post("/api/v1/threads", headers=t.headers, json={"assistant_id": assistant})
        thread_id = r.json()["id"]
        p.llm.script_tools([{"name": "check_order", "arguments": {"order_id": "5"}}])
        events: list[tuple[str, str]] = []
        async with p.gw.stream(
            "POST",
            f"/api/v1/threads/{thread_id}/messages",
            headers=t.headers | {"Accept": "text/event-stream"},
            json={"content": "order 5?"},
        ) as resp:
            assert resp.status_code == 200
            name = ""
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((name, line.split(":", 1)[1].strip()))
        names = [n for n, _ in events]
        assert names[:3] == ["start", "tool_call", "tool_result"], names
        assert set(names[3:-1]) == {"delta"} and names[-1] == "done"
        call, result = orjson.loads(events[1][1]), orjson.loads(events[2][1])
        assert call["name"] == "check_order" and call["arguments"] == {"order_id": "5"}
        assert result["status"] == "ok" and result["id"] == call["id"]
        assert p.tools.calls[0].signature_valid is True
        assert all(q["body"].get("stream") for q in p.llm.requests)  # both rounds streamed
        done = orjson.loads(events[-1][1])
        assert done["content"] == "".join(orjson.loads(d)["content"] for n, d in events if n == "delta")
        assert [m["role"] for m in await p.messages(t, thread_id)] == ["user", "tool", "assistant"]
