"""Meta's provider family on its own: the signature over the raw body, the subscription check, every message of a
batch parsed (placeholders for what we do not handle, echoes of our own sends skipped), statuses, Graph errors
mapped, and media only from the Graph host or Meta's media hosts, with the token, capped. (Through the gateway:
tests/channels/test_meta.py.)"""

import hashlib
import hmac

import httpx
import orjson
import pytest

from services.channels.providers.base import MediaError, WebhookRequest
from services.channels.providers.meta import Instagram, Messenger, WhatsAppCloud
from services.channels.providers.meta.graph import GraphClient, graph_error, host_allowed
from shared.errors import BadRequest, Forbidden
from tests.support.plugin import serve_app
from tests.support.providers import MetaGraphStandIn

SECRET = "0a" * 16
TOKEN = "EAAGunit" + "1" * 40
HOSTS = ("lookaside.fbsbx.com", "*.fbcdn.net")


def signed(body: dict, secret: str = SECRET) -> WebhookRequest:
    raw = orjson.dumps(body)
    sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return WebhookRequest("c1", {"x-hub-signature-256": sig}, "/webhooks/meta/c1", "", raw)


def wa(*messages: dict, statuses: list[dict] | None = None) -> dict:
    value = {"contacts": [{"wa_id": "5511988887777", "profile": {"name": "Bia"}}], "messages": list(messages)}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value | {"statuses": statuses or []}}]}],
    }


def msg(mid: str, type_: str, **content) -> dict:
    return {"from": "5511988887777", "id": mid, "timestamp": "1763790000", "type": type_, **content}


def test_the_signature_is_an_hmac_of_the_raw_body_with_the_app_secret():
    p = WhatsAppCloud()
    request = p.read(signed(wa(msg("wamid.1", "text", text={"body": "oi"}))))
    assert p.authentic(p.verifier({"app_secret": SECRET}), request)
    assert not p.authentic(p.verifier({"app_secret": "1b" * 16}), request)
    assert not p.authentic(p.verifier({}), request)  # no secret takes nothing
    tampered = p.read(WebhookRequest("c1", dict(signed(wa()).headers), "/", "", orjson.dumps(wa()) + b" "))
    assert not p.authentic(p.verifier({"app_secret": SECRET}), tampered)
    unsigned = p.read(WebhookRequest("c1", {}, "/", "", orjson.dumps(wa())))
    assert not p.authentic(p.verifier({"app_secret": SECRET}), unsigned)


def test_the_subscription_check_answers_the_challenge_only_for_our_token():
    p = Messenger()
    creds = {"verify_token": "our-verify-token"}
    ok = {"hub.mode": "subscribe", "hub.verify_token": "our-verify-token", "hub.challenge": "1158201444"}
    assert p.subscription(creds, ok) == "1158201444"
    for wrong in ({"hub.verify_token": "other"}, {"hub.mode": "unsubscribe"}, {"hub.challenge": ""}):
        with pytest.raises(Forbidden):
            p.subscription(creds, ok | wrong)
    with pytest.raises(Forbidden):
        p.subscription({}, ok | {"hub.verify_token": ""})


def test_every_message_of_a_batch_with_placeholders_never_dropped():
    body = wa(
        msg("wamid.t", "text", text={"body": "quero pizza"}),
        msg("wamid.a", "audio", audio={"id": "AUD1", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        msg("wamid.i", "image", image={"id": "IMG1", "mime_type": "image/jpeg", "caption": "esta"}),
        msg("wamid.s", "sticker", sticker={"id": "STK1", "mime_type": "image/webp"}),
        msg("wamid.r", "reaction", reaction={"message_id": "wamid.OUT1", "emoji": "👍"}),
        msg("wamid.u", "unsupported", errors=[{"code": 131051}]),
        msg("wamid.l", "location", location={"latitude": 1, "longitude": 2}),
    )
    body["entry"].append(wa(msg("wamid.t2", "text", text={"body": "segunda entrada"}))["entry"][0])
    p = WhatsAppCloud()
    got = p.messages(p.read(signed(body)))
    assert [(m.provider_message_id, m.kind, m.text) for m in got] == [
        ("wamid.t", "text", "quero pizza"),
        ("wamid.a", "audio", None),
        ("wamid.i", "image", "esta"),
        ("wamid.s", "image", "[sticker]"),
        ("wamid.r", "text", "[reaction 👍]"),
        ("wamid.u", "text", "[unsupported message type: unsupported]"),
        ("wamid.l", "text", "[location]"),
        ("wamid.t2", "text", "segunda entrada"),
    ]
    assert got[1].media == [{"media_id": "AUD1", "content_type": "audio/ogg; codecs=opus", "kind": "audio"}]
    assert got[2].media == [{"media_id": "IMG1", "content_type": "image/jpeg", "kind": "image"}]
    assert {(m.sender, m.sender_name, m.reply_to) for m in got} == {("5511988887777", "Bia", "5511988887777")}


def test_instagram_and_messenger_events_echoes_skipped():
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": "PAGE",
                "messaging": [
                    {"sender": {"id": "IGSID1"}, "recipient": {"id": "PAGE"}, "message": {"mid": "m_1", "text": "oi"}},
                    {
                        "sender": {"id": "PAGE"},
                        "recipient": {"id": "IGSID1"},
                        "message": {"mid": "m_echo", "text": "our reply", "is_echo": True},
                    },
                    {
                        "sender": {"id": "IGSID1"},
                        "message": {
                            "mid": "m_2",
                            "attachments": [{"type": "audio", "payload": {"url": "https://lookaside.fbsbx.com/a"}}],
                        },
                    },
                    {"sender": {"id": "IGSID1"}, "message": {"mid": "m_3", "is_unsupported": True}},
                    {
                        "sender": {"id": "IGSID1"},
                        "message": {
                            "mid": "m_4",
                            "attachments": [
                                {"type": "image", "payload": {"url": "https://scontent.cdninstagram.com/i.jpg"}},
                                {"type": "video", "payload": {"url": "https://lookaside.fbsbx.com/v"}},
                            ],
                        },
                    },
                    {
                        "sender": {"id": "IGSID1"},
                        "message": {"mid": "m_5", "attachments": [{"type": "video", "payload": {"url": "https://x"}}]},
                    },
                    {"sender": {"id": "IGSID1"}, "timestamp": 7, "reaction": {"mid": "m_1", "emoji": "❤"}},
                    {"sender": {"id": "IGSID1"}, "read": {"mid": "m_OUT1"}},
                ],
            }
        ],
    }
    p = Instagram()
    got = p.messages(p.read(signed(body)))
    assert [(m.provider_message_id, m.kind, m.text) for m in got] == [
        ("m_1", "text", "oi"),
        ("m_2", "audio", None),
        ("m_3", "text", "[unsupported message]"),
        ("m_4", "image", None),
        ("m_5", "media", "[video]"),
        ("reaction:m_1:IGSID1:7", "text", "[reaction ❤]"),
    ]
    assert got[1].media[0]["url"] == "https://lookaside.fbsbx.com/a"
    assert [m["kind"] for m in got[3].media] == ["image"]  # the image goes to chat; the video is not fetched


def test_statuses_are_delivery_reports_and_malformed_bodies_are_refused():
    p = WhatsAppCloud()
    statuses = [
        {"id": "wamid.OUT1", "status": "delivered", "timestamp": "1", "recipient_id": "55"},
        {"id": "wamid.OUT2", "status": "failed", "errors": [{"code": 131047, "title": "Re-engagement message"}]},
    ]
    parts = p.read(signed(wa(statuses=statuses)))
    assert p.messages(parts) == []
    assert [(r.provider_message_id, r.status, r.error, r.outside_window) for r in p.statuses(parts)] == [
        ("wamid.OUT1", "delivered", None, False),
        ("wamid.OUT2", "failed", "meta error 131047: Re-engagement message", True),
    ]
    assert p.answer([]).duplicate is None and p.answer([None, None]).duplicate and not p.answer([None, 1]).duplicate
    for raw in (b"not json", b"[1]", orjson.dumps({"entry": [{"changes": [{"value": {"messages": [{}]}}]}]})):
        with pytest.raises(BadRequest):
            p.messages(p.read(WebhookRequest("c1", {}, "/", "", raw)))


def _graph_response(status: int, code: int | None, retry_after: str | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after else {}
    body = {"error": {"message": "x", "code": code}} if code is not None else {}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "permanent", "window"),
    [
        (429, None, False, False),
        (400, 4, False, False),
        (400, 80007, False, False),
        (400, 130429, False, False),
        (400, 131048, False, False),
        (400, 613, False, False),
        (500, 2, False, False),
        (401, 190, True, False),
        (400, 131047, True, True),
        (400, 100, True, False),  # invalid parameter (a recipient that does not exist)
        (400, 131026, True, False),  # message undeliverable
    ],
)
def test_graph_errors_are_mapped(status, code, permanent, window):
    error = graph_error(_graph_response(status, code))
    assert (error.permanent, error.outside_window) == (permanent, window)
    assert graph_error(_graph_response(429, None, "7")).retry_after == 7.0


def test_media_hosts_are_matched_exactly():
    assert host_allowed("lookaside.fbsbx.com", HOSTS) and host_allowed("scontent.xx.fbcdn.net", HOSTS)
    for host in ("fbcdn.net.evil.io", "evilfbcdn.net", "lookaside.fbsbx.com.evil.io", "fbcdn.net", "127.0.0.1"):
        assert not host_allowed(host, HOSTS), host
    g = GraphClient("http://127.0.0.1:9", "v21.0", HOSTS, 5)
    assert g.allowed_media_url("http://127.0.0.1:9/dl/1") and g.allowed_media_url("https://x.fbcdn.net/v/1")
    assert not g.allowed_media_url("http://x.fbcdn.net/v/1")  # CDN only over https
    assert not g.allowed_media_url("http://127.0.0.1:10/dl/1")


async def test_media_by_id_with_the_token_capped_and_never_off_meta_hosts():
    graph = MetaGraphStandIn({TOKEN}, media={"AUD1": (b"OggS" + b"\0" * 3000, "audio/ogg")})
    graph.media_urls["EVIL"] = "http://169.254.169.254/latest/meta-data"
    async with serve_app(graph.app) as base:
        p = WhatsAppCloud(base, "v21.0", HOSTS, 5)
        creds = {"access_token": TOKEN}
        media = await p.fetch_media(httpx.AsyncClient(), creds, {"media_id": "AUD1"}, 10_000)
        assert media.content.startswith(b"OggS") and media.content_type == "audio/ogg"
        assert [(c["method"], c["token"]) for c in graph.calls] == [("media", TOKEN), ("download", TOKEN)]
        with pytest.raises(MediaError, match="larger"):
            await p.fetch_media(httpx.AsyncClient(), creds, {"media_id": "AUD1"}, 100)
        with pytest.raises(MediaError, match="answered 401"):
            await p.fetch_media(httpx.AsyncClient(), {"access_token": "EAAGwrong" + "2" * 30}, {"media_id": "AUD1"}, 1)
        calls = len(graph.calls)
        with pytest.raises(MediaError, match="refusing"):
            await p.fetch_media(httpx.AsyncClient(), creds, {"media_id": "EVIL"}, 10_000)
        with pytest.raises(MediaError, match="refusing"):
            await p.fetch_media(httpx.AsyncClient(), creds, {"url": "https://evil.example/x.ogg"}, 10_000)
        assert [c["method"] for c in graph.calls[calls:]] == ["media"]  # the lookup only, never the refused URL
        await p.aclose()


def test_a_graph_refusal_that_is_not_meta_json_is_still_mapped():
    assert graph_error(httpx.Response(502, text="<html>bad gateway</html>")).permanent is False
    assert graph_error(httpx.Response(400, json=["not", "an", "object"])).permanent is True
    assert graph_error(httpx.Response(400, json={"error": "a string"})).permanent is True
