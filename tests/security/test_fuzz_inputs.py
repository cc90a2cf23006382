"""Webhook and upload fuzzing with Hypothesis, through the gateway to the real services.

Random forms, JSON, headers and multipart bytes: the answer is always a 4xx problem (or 200 for a well-formed update
the platform ignores), never a 5xx, and a refused request stores nothing (no inbound message, no event, no job, no
file, no document). Examples are bounded so the file runs in well under a minute.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.transcription.jobs.audio import SNIFF_BYTES, sniff
from shared.events.channels import INBOUND_STREAM
from tests.support.platform import platform

TWILIO_TOKEN = "twilio-fuzz-token-0123"
FUZZ = settings(
    max_examples=50,
    deadline=None,
    # CI replays the same examples every run (a landing never hinges on luck); local runs explore new ones.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(max_size=40)  # any unicode, NUL and surrogate-free escapes included where legal
field_names = st.sampled_from(
    ["MessageSid", "SmsMessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "ProfileName"]
    + [f"MediaUrl{i}" for i in range(3)]
    + [f"MediaContentType{i}" for i in range(3)]
) | st.text(min_size=1, max_size=12)
forms = st.dictionaries(field_names, text, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
header_values = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60)


@pytest.fixture
async def fuzz(stack, committed_db, redis, tmp_path: Path):
    async with platform(stack, tmp_path, tw_token=TWILIO_TOKEN) as p:
        await p.tenant("Operator")
        t = await p.tenant("Fuzz")
        p.t = t
        p.tg_channel = await p.channel(t, "telegram", bot_token="333333333:AAH" + "f" * 32)
        p.tw_channel = await p.channel(t, "twilio", auth_token=TWILIO_TOKEN)
        yield p


async def stored(p) -> tuple:
    """Everything an accepted request can leave behind (one query: it runs twice per example)."""
    [counts] = await p.sql(
        "SELECT (SELECT count(*) FROM channels.inbound_message),"
        " (SELECT count(*) FROM channels.outbox WHERE stream = :s),"
        " (SELECT count(*) FROM transcription.job), (SELECT count(*) FROM search.document)",
        s=INBOUND_STREAM,
    )
    files = sum(1 for f in Path(p.storage).rglob("*") if f.is_file())
    return (*counts, files)


def check(r, allowed_ok: set[int]) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert r.status_code in allowed_ok or 400 <= r.status_code < 500, r.status_code
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert r.json()["status"] == r.status_code


@FUZZ
@given(form=forms, signed=st.booleans(), signature=header_values, ctype=st.sampled_from(["form", "json", "text"]))
async def test_twilio_webhook_fuzz(fuzz, form, signed, signature, ctype):
    p, ch = fuzz, fuzz.tw_channel
    url = f"/webhooks/twilio/{ch['id']}"
    if signed:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(p.urls["gateway"] + url, form)
    before = await stored(p)
    headers = {"X-Twilio-Signature": signature}
    if ctype == "form":
        r = await p.gw.post(url, data=form, headers=headers)
    elif ctype == "json":
        r = await p.gw.post(url, json=form, headers=headers)
    else:
        r = await p.gw.post(url, content=str(form).encode(), headers=headers | {"Content-Type": "text/plain"})
    check(r, {200})
    if r.status_code != 200:
        assert await stored(p) == before
    else:  # only a signed, well-formed message is accepted
        assert signed and ctype == "form" and (form.get("MessageSid") or form.get("SmsMessageSid")) and form.get("From")


@FUZZ
@given(form=forms, signed=st.booleans())
async def test_twilio_status_callback_fuzz(fuzz, form, signed):
    p, ch = fuzz, fuzz.tw_channel
    url = f"/webhooks/twilio/{ch['id']}/status"
    sig = RequestValidator(TWILIO_TOKEN if signed else "wrong").compute_signature(p.urls["gateway"] + url, form)
    before = await stored(p)
    r = await p.gw.post(url, data=form, headers={"X-Twilio-Signature": sig})
    check(r, {204})
    assert await stored(p) == before  # a status callback never creates an inbound message


telegram_updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-(2**70), max_value=2**70) | text},
    optional={
        "message": st.fixed_dictionaries(
            {},
            optional={
                "message_id": st.integers(min_value=-(2**40), max_value=2**40),
                "date": st.integers(min_value=0, max_value=2**40),
                "chat": st.fixed_dictionaries(
                    {"id": st.integers(min_value=-(2**70), max_value=2**70), "type": st.sampled_from(["private", "x"])}
                ),
                "from": st.fixed_dictionaries(
                    {"id": st.integers(min_value=-(2**63), max_value=2**63), "is_bot": st.booleans()},
                    optional={"first_name": text, "last_name": text},
                ),
                "text": text,
                "caption": text,
                "voice": st.fixed_dictionaries(
                    {"file_id": text, "file_unique_id": text, "duration": st.integers(-5, 2**40)},
                    optional={"mime_type": text, "file_size": st.integers(-5, 2**40)},
                ),
            },
        ),
        "edited_message": json_values,
        "callback_query": json_values,
    },
)


@FUZZ
@given(update=telegram_updates | json_values, secret_ok=st.booleans(), secret=header_values)
async def test_telegram_webhook_fuzz(fuzz, update, secret_ok, secret):
    p, ch = fuzz, fuzz.tg_channel
    before = await stored(p)
    header = ch["secret"] if secret_ok else secret
    r = await p.gw.post(
        f"/webhooks/telegram/{ch['id']}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": header}
    )
    check(r, {200})
    if not secret_ok and secret != ch["secret"]:
        assert r.status_code == 403
    if r.status_code != 200 or not r.json().get("handled"):
        assert await stored(p) == before


@FUZZ
@given(body=st.binary(max_size=2048), ctype=header_values)
async def test_telegram_raw_body_fuzz(fuzz, body, ctype):
    p, ch = fuzz, fuzz.tg_channel
    before = await stored(p)
    r = await p.gw.post(
        f"/webhooks/telegram/{ch['id']}",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": ch["secret"], "Content-Type": ctype or "application/json"},
    )
    check(r, {200})
    if r.status_code != 200 or not r.json().get("handled"):
        assert await stored(p) == before


filenames = st.text(max_size=30) | st.sampled_from(["a.wav", "a.ogg", "a.mp3", "a.txt", "a.pdf", "a.docx", "a.md"])
mimes = st.sampled_from(["audio/wav", "audio/ogg", "application/pdf", "text/plain", "application/octet-stream", ""])


def _prefixed(data: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, sometimes behind a real container header so the sniffers go further before refusing."""
    heads = st.sampled_from(
        [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"OggS\x00\x02", b"%PDF-1.4\n", b"PK\x03\x04", b"ID3"]
    )
    return st.builds(lambda h, d: h + d, heads, data)


@FUZZ
@given(content=_prefixed(st.binary(max_size=4096)), filename=filenames, mime=mimes, fields=forms)
async def test_transcription_upload_fuzz(fuzz, content, filename, mime, fields):
    p = fuzz
    before = await stored(p)
    r = await p.gw.post(
        "/api/v1/transcriptions",
        headers=p.t.headers,
        files={"file": (filename, content, mime)},
        data={k: v for k, v in fields.items() if k},
    )
    if sniff(content[:SNIFF_BYTES]) is None:
        check(r, set())  # not audio by its first bytes: refused, nothing kept
        assert await stored(p) == before
    else:
        # An audio header followed by junk is accepted on purpose (docs/transcription.md: a file whose duration
        # cannot be read is queued and the job fails with a readable error); it never fails the request.
        check(r, {202})
        if r.status_code == 202:
            after = await stored(p)
            assert after[2] == before[2] + 1 and after[4] == before[4] + 1


@FUZZ
@given(content=_prefixed(st.binary(max_size=4096)), filename=filenames, mime=mimes)
async def test_document_upload_fuzz(fuzz, content, filename, mime):
    p = fuzz
    before = await stored(p)
    r = await p.gw.post("/api/v1/documents", headers=p.t.headers, files={"file": (filename, content, mime)})
    check(r, {202})  # a random .txt is a valid (odd) text document
    if r.status_code != 202:
        assert await stored(p) == before
    else:
        assert (await stored(p))[3] == before[3] + 1


@FUZZ
@given(body=st.binary(max_size=2048), ctype=header_values)
async def test_upload_raw_body_fuzz(fuzz, body, ctype):
    """Not multipart at all, or a broken multipart: refused with a 4xx by both upload endpoints."""
    p = fuzz
    before = await stored(p)
    for path in ("/api/v1/transcriptions", "/api/v1/documents"):
        r = await p.gw.post(path, headers=p.t.headers | {"Content-Type": ctype}, content=body)
        check(r, set())
    assert await stored(p) == before
