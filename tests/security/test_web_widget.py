"""Abuse of the web chat widget's API, replayed through the gateway on the whole stack: a visitor token opens only its
own conversation and is no API credential anywhere; unknown keys, foreign or missing origins, oversized text, bad
images and expired or forged tokens get clear problem+json 4xx; visitors (messages, open streams) and client
addresses are rate-limited; CORS answers echo only an allowed origin; an idle stream is kept alive by pings; a pt-BR
channel greets its visitors in Portuguese."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid

import httpx
import jwt

from services.channels.web.tokens import VisitorClaims, VisitorTokens
from tests.support.platform import WIDGET_ORIGIN, from_ip, platform

PROBLEM = "application/problem+json"


def _bearer(session: dict, origin: str | None = WIDGET_ORIGIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['visitor_token']}"} | ({"Origin": origin} if origin else {})


def _problem(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    if code:
        assert body["code"] == code, body
    return body


async def test_widget_abuse_is_refused(stack, committed_db, redis, tmp_path):
    limits = {"widget_sessions": {"ip": "8/minute"}, "widget": {"ip": ""}, "default": {"ip": "", "user": ""}}
    async with platform(
        stack,
        tmp_path,
        rate_limits=limits,
        client_ips=True,
        settings={"channels": {"widget_visitor_limit": "6/minute", "widget_ping_seconds": 1}},
    ) as p:
        a, b = await p.tenant("WidgetA"), await p.tenant("WidgetB")
        ch_a = await p.web_channel(a, locale="pt-BR")
        ch_b = await p.web_channel(b, ("https://other.example",))
        gw = p.gw
        ip = iter(f"198.51.100.{i}" for i in range(1, 250))

        async def session(ch: dict, origin: str | None = WIDGET_ORIGIN, **body) -> httpx.Response:
            headers = from_ip(next(ip), {"Origin": origin} if origin else {})
            return await gw.post(
                "/api/v1/widget/sessions", json={"public_key": ch["public_key"], **body}, headers=headers
            )

        # pt-BR: the channel's locale and its fixed greeting reach the visitor in Portuguese
        r = await session(ch_a)
        assert r.status_code == 201, r.text
        one = r.json()
        assert one["channel"]["locale"] == "pt-BR" and one["channel"]["greeting"] == "Olá! Como podemos ajudar?"

        # unknown key, foreign origin, no origin, an origin allowed on another tenant's channel
        _problem(await session({"public_key": "wk_" + "x" * 32}), 404, "unknown_widget_key")
        _problem(await session(ch_a, "https://evil.example"), 403, "origin_not_allowed")
        _problem(await session(ch_a, None), 403, "origin_not_allowed")
        _problem(await session(ch_b), 403, "origin_not_allowed")
        refused = await session(ch_a, "https://evil.example")
        assert "access-control-allow-origin" not in refused.headers

        # CORS: the preflight is answered, the real answer echoes only an allowed origin
        pre = await gw.options(
            "/api/v1/widget/messages",
            headers={"Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )  # fmt: skip
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == WIDGET_ORIGIN
        ok = await gw.get("/api/v1/widget/messages", headers=_bearer(one))
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == WIDGET_ORIGIN
        _problem(await gw.get("/api/v1/widget/messages", headers=_bearer(one, "https://evil.example")), 403)

        # an idle stream gets comment pings through the gateway (what keeps proxies from closing it)
        async with gw.stream("GET", "/api/v1/widget/stream", params={"token": one["visitor_token"]}) as live:
            assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")
            pings = 0
            async with asyncio.timeout(10):
                async for line in live.aiter_lines():
                    pings += line.startswith(":")
                    if pings == 3:  # the one that opens the stream, then one per CHANNELS_WIDGET_PING_SECONDS
                        break

        # one visitor cannot hold streams without end (tabs: 8 at once)
        tabbed = _bearer((await session(ch_a)).json())
        async with contextlib.AsyncExitStack() as tabs:
            for _ in range(8):
                tab = await tabs.enter_async_context(gw.stream("GET", "/api/v1/widget/stream", headers=tabbed))
                assert tab.status_code == 200
            extra = await gw.get("/api/v1/widget/stream", headers=tabbed)
            _problem(extra, 429, "too_many_streams")

        # bad input
        big = {"text": "x" * 2001}
        _problem(await gw.post("/api/v1/widget/messages", headers=_bearer(one), json=big), 413, "message_too_long")
        _problem(await gw.post("/api/v1/widget/messages", json={"text": "hi"}), 401, "invalid_visitor_token")
        # images: text dressed as a PNG, bad base64, more than CHANNELS_IMAGES_MAX_PER_MESSAGE; nothing stored
        fake = base64.b64encode(b"\x89PNG\r\n\x1a\n<script>alert(1)</script>").decode()
        for items, status, code in (
            ([{"data": fake}], 415, "attachment_type_refused"),
            ([{"data": "%%%not-base64"}], 400, "attachment_invalid"),
            ([{"data": fake}] * 5, 422, "too_many_attachments"),
        ):
            r = await gw.post("/api/v1/widget/messages", headers=_bearer(one), json={"text": "", "attachments": items})
            _problem(r, status, code)
        _problem(await gw.get("/api/v1/widget/stream", headers={"Last-Event-ID": "nope", **_bearer(one)}), 400)
        _problem(await gw.get("/api/v1/widget/messages", params={"after": "x"}, headers=_bearer(one)), 400)

        # an expired token and a forged one (claims changed: the signature no longer holds; another key; alg none)
        tokens = VisitorTokens("", p.settings("channels").service_secret, -60)
        claims = VisitorClaims(uuid.UUID(a.tenant_id), uuid.UUID(ch_a["id"]), uuid.UUID(one["visitor_id"]))
        expired = {"Authorization": f"Bearer {tokens.issue(claims)}"}
        body = _problem(await gw.get("/api/v1/widget/messages", headers=expired), 401, "invalid_visitor_token")
        assert "expired" in body["detail"]
        head, payload, sig = one["visitor_token"].split(".")
        forged_cid = jwt.encode(
            jwt.decode(one["visitor_token"], options={"verify_signature": False}) | {"cid": ch_b["id"]},
            "guessed-key-guessed-key-guessed-key!",
            algorithm="HS256",
            headers={"kid": "s0"},
        )
        unsigned = jwt.encode({"sub": one["visitor_id"], "cid": ch_a["id"], "tid": a.tenant_id}, None, algorithm="none")
        for token in (forged_cid, unsigned, f"{head}.{payload}.{sig[:-2]}AA"):
            r = await gw.get("/api/v1/widget/messages", headers={"Authorization": f"Bearer {token}"})
            _problem(r, 401, "invalid_visitor_token")

        # isolation: a second visitor reads only their own conversation; a visitor id of another channel resumes
        # nothing there
        r = await p.gw.post("/api/v1/widget/messages", headers=_bearer(one), json={"text": "private to one"})
        assert r.status_code == 202, r.text
        two = (await session(ch_a)).json()
        assert two["visitor_id"] != one["visitor_id"]
        assert (await gw.get("/api/v1/widget/messages", headers=_bearer(two))).json()["items"] == []
        r = await session(ch_b, "https://other.example", visitor_id=one["visitor_id"])
        assert r.status_code == 201 and r.json()["visitor_id"] != one["visitor_id"]
        b_visitor = r.json()
        assert (await gw.get("/api/v1/widget/messages", headers=_bearer(b_visitor, None))).json()["items"] == []
        mine = (await gw.get("/api/v1/widget/messages", headers=_bearer(one))).json()["items"]
        assert [i["content"] for i in mine] == ["private to one"]

        # a visitor token is no API credential: not at the gateway, not at any service directly
        visitor = {"Authorization": f"Bearer {one['visitor_token']}"}
        for path in ("/api/v1/threads", "/api/v1/channels", "/api/v1/contacts", "/api/v1/events", "/api/v1/auth/me"):
            _problem(await gw.get(path, headers=visitor), 401)
        async with httpx.AsyncClient() as direct:
            for service, path in (("chat", "/api/v1/threads"), ("channels", "/api/v1/channels"),
                                  ("auth", "/api/v1/tenants"), ("search", "/api/v1/documents")):  # fmt: skip
                _problem(await direct.get(p.urls[service] + path, headers=visitor), 401)
        # ... and an API credential is no visitor token
        _problem(await gw.get("/api/v1/widget/messages", headers=a.headers), 401, "invalid_visitor_token")
        _problem(await gw.get("/api/v1/widget/messages", headers={"X-API-Key": a.api_key}), 401)

        # per visitor: 6 messages a minute (4 sent above, refused images count too), the next is a 429
        for text in ("second", "third"):
            assert (
                await gw.post("/api/v1/widget/messages", headers=_bearer(one), json={"text": text})
            ).status_code == 202
        limited = await gw.post("/api/v1/widget/messages", headers=_bearer(one), json={"text": "fourth"})
        _problem(limited, 429, "visitor_rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["access-control-allow-origin"] == WIDGET_ORIGIN

        # per client address at the gateway: sessions from one address
        same = from_ip("203.0.113.9", {"Origin": WIDGET_ORIGIN})
        answers = [
            (
                await gw.post("/api/v1/widget/sessions", json={"public_key": ch_a["public_key"]}, headers=same)
            ).status_code
            for _ in range(9)
        ]
        assert answers == [201] * 8 + [429]
