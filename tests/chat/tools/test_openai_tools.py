"""The official `openai` SDK with its own tools against /v1/chat/completions through the gateway: the model's calls to
client tools come back to the client (OpenAI semantics, streamed and not); the assistant's own tools run inside."""

from __future__ import annotations

import openai
import orjson

from tests.chat.tools.conftest import TOOL_SECRET, tools_platform

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_client_tools_return_to_the_client_and_server_tools_run_inside(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=("auth", "chat")) as p:
        t = await p.tenant("Sdk", secrets={"hook": TOOL_SECRET})
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "check_order", secret_name="hook")
        client = openai.AsyncOpenAI(base_url=f"{p.urls['gateway']}/v1", api_key=t.api_key, max_retries=0)
        question = {"role": "user", "content": "Order 12 and the weather in Recife?"}

        p.llm.script_tools(
            [{"name": "check_order", "arguments": {"order_id": "12"}}],  # the assistant's tool: run inside
            [{"name": "get_weather", "arguments": {"city": "Recife"}}],  # the client's: handed back
        )
        resp = await client.chat.completions.create(
            model="default", messages=[question], tools=[WEATHER], tool_choice="auto"
        )
        choice = resp.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls
        assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "Recife"}
        assert [c.arguments for c in p.tools.calls] == [{"order_id": "12"}] and p.tools.calls[0].signature_valid
        first, second = p.llm.requests
        assert {f["function"]["name"] for f in first["body"]["tools"]} == {"check_order", "get_weather"}
        assert first["body"]["tool_choice"] == "auto"
        assert [m["role"] for m in second["body"]["messages"]][-2:] == ["assistant", "tool"]

        # the client runs its tool and sends the result back: the model answers with it
        p.llm.reset()
        final = await client.chat.completions.create(
            model="default",
            messages=[
                question,
                choice.message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "31 C and sunny"},
            ],
            tools=[WEATHER],
        )
        assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content
        sent = p.llm.last["messages"]
        assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "31 C and sunny"}
        assert sent[-2]["tool_calls"][0]["id"] == call.id

        # streamed: the tool call arrives in pieces, finish_reason tool_calls
        p.llm.script_tools([{"name": "get_weather", "arguments": {"city": "Lisboa"}}])
        stream = await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Weather in Lisboa?"}], tools=[WEATHER], stream=True
        )
        names, args, finish = [], "", None
        async for chunk in stream:
            for c in chunk.choices:
                for d in c.delta.tool_calls or ():
                    names += [d.function.name] if d.function and d.function.name else []
                    args += (d.function.arguments or "") if d.function else ""
                finish = c.finish_reason or finish
        assert names == ["get_weather"] and orjson.loads(args) == {"city": "Lisboa"} and finish == "tool_calls"
        assert len(p.tools.calls) == 1  # nothing stored or called for the client's tool
