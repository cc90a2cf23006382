"""The hard cases: a chat worker SIGKILLed mid-answer, and a voice note that must be heard before it is answered."""

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.transcription.config import TranscriptionSettings
from shared.events.chat import OUTBOUND_STREAM
from tests.support.platform import LLM_KEY
from tests.support.platform import worker_process as _worker_process
from tests.support.plugin import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _chat_worker_process(p, lease: int) -> subprocess.Popen:
    return _worker_process(
        p,
        "chat",
        {
            "CHAT_LLM_BASE_URL": f"{p.urls['llm']}/v1",
            "CHAT_LLM_API_KEY": LLM_KEY,
            "CHAT_LLM_MODEL": "stand-in-model",
            "CHAT_LLM_TIMEOUT_SECONDS": "60",
            "CHAT_TENANT_SETTINGS_URL": p.urls["auth"],
            "CHAT_SEARCH_URL": "",
            "CHAT_BUFFER_LEASE_SECONDS": str(lease),
        },
    )


def _channels_worker_process(p, claim_idle_ms: int) -> subprocess.Popen:
    return _worker_process(
        p,
        "channels",
        {
            "CHANNELS_TELEGRAM_API_URL": p.urls["telegram"],
            "CHANNELS_TWILIO_API_URL": p.urls["twilio"],
            "EVENTS_CLAIM_IDLE_MS": str(claim_idle_ms),
        },
    )


async def test_channels_sender_killed_between_send_and_ack_the_customer_gets_one_reply(pipeline):
    """The provider took the reply, the sender was SIGKILLed before it heard back (so before its `sent` update and
    the XACK): the other worker reclaims the entry, finds the delivery `sending`, marks it `unknown` for a human and
    does not send it again. The provider sees one send; nothing is dead-lettered."""
    p = pipeline
    await p.setup_tenant(buffer_enabled=False)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.tg.hang(seconds=60, times=1)  # the first sendMessage is taken and never answered in time
    first = _channels_worker_process(p, claim_idle_ms=2_000)
    engine = create_async_engine(p.stack.database_url)

    async def delivery() -> tuple[str, str | None] | None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT status, error FROM channels.delivery WHERE channel_id = :c"), {"c": ch["id"]}
                )
            ).first()
        return tuple(row) if row else None

    second = None
    try:
        r = await p.telegram(ch, 970, "cadê meu pedido?")
        assert r.status_code == 200
        await wait_for(lambda: p.tg.named("sendMessage"), timeout=60)  # the provider has the reply
        assert (await delivery())[0] == "sending"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _channels_worker_process(p, claim_idle_ms=2_000)

        async def settled() -> bool:
            d = await delivery()
            pending = (await p.redis.xpending(OUTBOUND_STREAM, "channels"))["pending"]
            return d is not None and d[0] == "unknown" and pending == 0

        await wait_for(settled, timeout=60, interval=0.2)
        await asyncio.sleep(1.5)
        assert len(p.tg.named("sendMessage")) == 1
        status, error = await delivery()
        assert status == "unknown" and "not re-sent" in error
        assert await p.redis.xlen(OUTBOUND_STREAM.dlq) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        await engine.dispose()


async def test_chat_worker_killed_mid_answer_customer_gets_exactly_one(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=False)
    ch = await p.tenant_channel("telegram")
    p.start_worker("channels")
    p.llm.hang(seconds=60, times=1)  # the first answer never comes back: the worker dies waiting for it
    first = _chat_worker_process(p, lease=3)
    try:
        r = await p.telegram(ch, 900, "meu pedido não chegou")
        assert r.status_code == 200
        await wait_for(lambda: p.llm.requests, timeout=60)  # worker 1 took the burst and is mid-answer
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _chat_worker_process(p, lease=3)
        try:
            await wait_for(lambda: p.tg.named("sendMessage"), timeout=60)
            await asyncio.sleep(2)
            assert len(p.tg.named("sendMessage")) == 1
            assert len(p.llm.requests) == 2  # the dead worker's call, then the one that answered
            threads = (await p.gw.get("/api/v1/threads", headers=p.headers)).json()["items"]
            msgs = (await p.gw.get(f"/api/v1/threads/{threads[0]['id']}/messages", headers=p.headers)).json()
            assert [m["role"] for m in msgs["items"]] == ["user", "assistant"]
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()


@pytest.mark.slow
async def test_telegram_voice_note_transcribed_then_answered_once(pipeline, tmp_path):
    from tests.transcription.audio_gen import voice_note

    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=1, buffer_max_wait_seconds=30, locale="en-US")
    ch = await p.tenant_channel("telegram")
    note = voice_note("Hello, I would like to order a large pizza with mushrooms.", "en-us", tmp_path / "n.ogg")
    p.tg.files["VOICEPIZZA"] = note.read_bytes()
    tr_settings = p.stack.settings(
        TranscriptionSettings,
        storage_dir=str(tmp_path / "store"),
        model_cache_dir=str(ROOT / ".data" / "models"),
        auth_url=p.urls["auth"],
        events_relay_interval_ms=20,
        lease_seconds=10,
    )
    p.start_worker("chat")
    p.start_worker("channels")
    p.start_worker("transcription", settings=tr_settings)
    update = {
        "update_id": 950,
        "message": {
            "message_id": 950,
            "date": 1763790000,
            "chat": {"id": 31, "type": "private"},
            "from": {"id": 31, "is_bot": False, "first_name": "Ann"},
            "voice": {"file_id": "VOICEPIZZA", "file_unique_id": "vp", "duration": 4, "mime_type": "audio/ogg"},
        },
    }
    r = await p.gw.post(
        f"/webhooks/telegram/{ch['id']}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": ch["secret"]}
    )
    assert r.status_code == 200, r.text
    await wait_for(lambda: p.tg.named("sendMessage"), timeout=120)
    await asyncio.sleep(1.5)
    assert len(p.tg.named("sendMessage")) == 1 and len(p.llm.requests) == 1
    heard = p.user_texts(p.llm.requests[0])[-1].lower()
    assert "pizza" in heard and "mushroom" in heard, heard
