"""A channel burst whose chat worker is SIGKILLed while a tool holds its call: the call record (committed before
the call) is the idempotency point, so the worker that takes the burst over never calls the tool a second time."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import psutil

from tests.chat.tools.conftest import TOOL_SECRET, tools_platform
from tests.support.platform import LLM_KEY, worker_process
from tests.support.plugin import wait_for

BOT_TOKEN = "1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # fake: shaped like a token, not one


def caller(workers: list[subprocess.Popen], port: int) -> subprocess.Popen:
    """The worker process whose TCP connection has local port `port`."""
    for w in workers:
        if any(c.laddr and c.laddr.port == port for c in psutil.Process(w.pid).net_connections(kind="tcp")):
            return w
    raise AssertionError(f"no worker holds local port {port}")


def chat_worker(p):
    return worker_process(
        p,
        "chat",
        {
            "CHAT_LLM_BASE_URL": f"{p.urls['llm']}/v1",
            "CHAT_LLM_API_KEY": LLM_KEY,
            "CHAT_LLM_MODEL": "stand-in-model",
            "CHAT_TENANT_SETTINGS_URL": p.urls["auth"],
            "CHAT_SEARCH_URL": "",
            "CHAT_BUFFER_LEASE_SECONDS": "3",
            "CHAT_TOOLS_ALLOW_PRIVATE_NETWORKS": "true",
        },
    )


async def test_worker_killed_mid_tool_call_the_tool_is_called_once(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=("auth", "chat", "channels")) as p:
        t = await p.tenant("Crash", secrets={"hook": TOOL_SECRET}, settings={"buffer_enabled": False})
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "check_order", secret_name="hook")
        ch = await p.channel(t, "telegram", bot_token=BOT_TOKEN)
        p.start_worker("channels")
        release = p.tools.hold("check_order")
        same = [{"name": "check_order", "arguments": {"order_id": "77"}}]
        p.llm.script_tools(same, same)  # the retried answer's model asks for the same call
        workers = [chat_worker(p), chat_worker(p)]  # both start at once; the first to claim the burst holds it
        try:
            assert (await p.telegram(ch, 990, "where is order 77?")).status_code == 200
            await wait_for(lambda: p.tools.calls, timeout=90)  # a worker recorded the call and is inside it
            holder = caller(workers, p.tools.calls[0].client_port)
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            release.set()
            await wait_for(lambda: p.tg.named("sendMessage"), timeout=60)  # the other one, once the lease ran out
            await asyncio.sleep(1)  # room for a wrong second call or reply to show up
            assert len(p.tools.calls) == 1
            assert len(p.tg.named("sendMessage")) == 1
            [thread] = (await p.gw.get("/api/v1/threads", headers=t.headers)).json()["items"]
            msgs = await p.messages(t, thread["id"])
            assert [m["role"] for m in msgs] == ["user", "tool", "assistant"]
            assert msgs[1]["status"] == "error" and "unknown" in msgs[1]["result"]
            [handed] = [m for m in p.llm.requests[-1]["body"]["messages"] if m["role"] == "tool"]
            assert "unknown" in handed["content"]
            # the tool was offered the same key both times it could have been called: it can deduplicate too
            assert len(p.tools.calls[0].headers["idempotency-key"]) == 64
            # the customer never sees the tool message
            assert all("unknown" not in str(m) for m in p.tg.named("sendMessage"))
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)


async def test_provider_down_after_a_tool_call_the_retry_reuses_its_result(stack, committed_db, tmp_path):
    """The tool answered, then the model's next call failed past its retries: the flusher retries the burst later, and
    that answer re-uses the recorded outcome instead of calling the tool again."""
    async with tools_platform(stack, tmp_path, services=("auth", "chat", "channels")) as p:
        t = await p.tenant("Retry", secrets={"hook": TOOL_SECRET}, settings={"buffer_enabled": False})
        assistant = await p.assistant(t)
        await p.http_tool(t, assistant, "check_order", secret_name="hook")
        ch = await p.channel(t, "telegram", bot_token=BOT_TOKEN)
        p.start_worker("channels")
        p.start_worker("chat")
        release = p.tools.hold("check_order")
        same = [{"name": "check_order", "arguments": {"order_id": "78"}}]
        p.llm.script_tools(same, same)
        assert (await p.telegram(ch, 991, "and order 78?")).status_code == 200
        await wait_for(lambda: p.tools.calls, timeout=30)
        p.llm.fail(500, times=2)  # the call after the tool's answer, and the SDK's one retry
        release.set()
        await wait_for(lambda: p.tg.named("sendMessage"), timeout=60)
        assert len(p.tools.calls) == 1 and len(p.tg.named("sendMessage")) == 1
        [thread] = (await p.gw.get("/api/v1/threads", headers=t.headers)).json()["items"]
        msgs = await p.messages(t, thread["id"])
        assert [m["role"] for m in msgs] == ["user", "tool", "assistant"]
        assert msgs[1]["status"] == "ok"
        [handed] = [m for m in p.llm.requests[-1]["body"]["messages"] if m["role"] == "tool"]
        assert '"order_id":"78"' in handed["content"]  # the recorded result, handed back on the retry
