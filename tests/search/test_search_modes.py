"""Semantic (English), keyword and hybrid (pt-BR stemming), filters, threshold, idempotency, deletes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.events.envelope import Envelope
from shared.events.search import MESSAGE_DELETED
from tests.search.conftest import bulk_index, index_message

ENGLISH = [
    "my bill payment failed",
    "how do I reset my password",
    "the delivery arrived two days late",
    "can I change the size of my order",
    "your store opens at what time on sunday",
]


async def search(search_client, headers, **body):
    r = await search_client.post("/api/v1/search", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_english_semantic_finds_paraphrase(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    ids = {text: await index_message(handler, session, tenant, text, locale="en") for text in ENGLISH}
    body = await search(search_client, auth(tenant), query="problem with my invoice payment", mode="semantic", limit=3)
    assert body["results"][0]["id"] == str(ids["my bill payment failed"])
    assert body["results"][0]["source"] == "messages"
    assert body["results"][0]["text"] == "my bill payment failed"
    assert body["plan"] == "exact" and body["took_ms"] >= 0
    assert len(body["results"]) == 3
    assert body["results"][0]["score"] > body["results"][1]["score"]


async def test_threshold_removes_weak_hits(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    for text in ENGLISH:
        await index_message(handler, session, tenant, text)
    loose = await search(search_client, auth(tenant), query="problem with my invoice payment", mode="semantic", limit=5)
    strict = await search(
        search_client,
        auth(tenant),
        query="problem with my invoice payment",
        mode="semantic",
        limit=5,
        similarity_threshold=0.5,
    )
    assert len(loose["results"]) == 5
    assert [r["text"] for r in strict["results"]] == ["my bill payment failed"]
    assert all(r["score"] >= 0.5 for r in strict["results"])


async def test_pt_br_keyword_and_hybrid_stem(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    target = await index_message(handler, session, tenant, "o boleto não foi pago", locale="pt-BR")
    await index_message(handler, session, tenant, "quero trocar o endereço de entrega", locale="pt-BR")
    await index_message(handler, session, tenant, "a pizza chegou fria", locale="pt-BR")
    kw = await search(search_client, auth(tenant), query="boleto pago", mode="keyword")
    assert [r["id"] for r in kw["results"]] == [str(target)]
    assert "<b>" in kw["results"][0]["highlight"]
    hy = await search(search_client, auth(tenant), query="boleto pago", mode="hybrid", limit=3)
    assert hy["results"][0]["id"] == str(target)
    assert hy["results"][0]["keyword_rank"] is not None and hy["results"][0]["similarity"] is not None
    # 'pagos' / 'boletos' only match through the portuguese stemmer
    plural = await search(search_client, auth(tenant), query="boletos pagos", mode="keyword")
    assert [r["id"] for r in plural["results"]] == [str(target)]


async def test_simple_config_does_not_stem_when_locale_unknown(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    await index_message(handler, session, tenant, "o boleto não foi pago")
    kw = await search(search_client, auth(tenant), query="boletos pagos", mode="keyword")
    assert kw["results"] == []  # fallback 'simple': exact words only


async def test_sector_contact_and_date_filters(search_client, session, handler, auth):
    tenant, contact = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    old = await index_message(
        handler, session, tenant, "refund for my payment", sector="billing", created_at=now - timedelta(days=30)
    )
    new = await index_message(
        handler, session, tenant, "refund of the payment please", sector="billing", contact_id=contact, created_at=now
    )
    other = await index_message(handler, session, tenant, "payment refund question", sector="support", created_at=now)
    h = auth(tenant)
    every = await search(search_client, h, query="payment refund", mode="hybrid")
    assert {r["id"] for r in every["results"]} == {str(old), str(new), str(other)}
    billing = await search(search_client, h, query="payment refund", mode="semantic", sector="billing")
    assert {r["id"] for r in billing["results"]} == {str(old), str(new)}
    assert all(r["sector"] == "billing" for r in billing["results"])
    recent = await search(
        search_client, h, query="payment refund", mode="keyword", date_from=(now - timedelta(days=1)).isoformat()
    )
    assert {r["id"] for r in recent["results"]} == {str(new), str(other)}
    ranged = await search(
        search_client, h, query="payment refund", mode="hybrid", date_to=(now - timedelta(days=1)).isoformat()
    )
    assert {r["id"] for r in ranged["results"]} == {str(old)}
    by_contact = await search(search_client, h, query="payment refund", contact_id=str(contact))
    assert [r["id"] for r in by_contact["results"]] == [str(new)]
    docs_only = await search(search_client, h, query="payment refund", sources=["documents"])
    assert docs_only["results"] == []


async def test_redelivery_is_idempotent_and_deletes_propagate(search_client, session, handler, auth):
    tenant, thread = uuid.uuid4(), uuid.uuid4()
    mid = await index_message(handler, session, tenant, "the printer is on fire", thread_id=thread)
    await index_message(handler, session, tenant, "the printer is on fire", message_id=mid, thread_id=thread)
    await index_message(handler, session, tenant, "printer ink is empty", thread_id=thread)
    h = auth(tenant)
    body = await search(search_client, h, query="printer fire", mode="keyword")
    assert [r["id"] for r in body["results"]] == [str(mid)]
    # an edit replaces the text
    await index_message(handler, session, tenant, "the printer is jammed", message_id=mid, thread_id=thread)
    assert (await search(search_client, h, query="fire", mode="keyword"))["results"] == []
    # soft delete, then a late redelivery of the old upsert does not bring it back
    await index_message(handler, session, tenant, "", message_id=mid, deleted=True)
    await index_message(handler, session, tenant, "the printer is jammed", message_id=mid, thread_id=thread)
    for mode in ("semantic", "keyword", "hybrid"):
        found = await search(search_client, h, query="printer jammed", mode=mode)
        assert str(mid) not in {r["id"] for r in found["results"]}
    # a whole thread erased
    await handler(
        Envelope(type=MESSAGE_DELETED, tenant_id=tenant, idempotency_key="t", payload={"thread_id": str(thread)}),
        session,
    )
    for mode in ("semantic", "keyword", "hybrid"):
        assert (await search(search_client, h, query="printer ink", mode=mode))["results"] == []


async def test_limit_is_capped_and_bad_input_is_problem_json(search_client, session, embedder, auth):
    tenant = uuid.uuid4()
    await bulk_index(session, embedder, tenant, [f"order number {i} was shipped" for i in range(60)])
    h = auth(tenant)
    body = await search(search_client, h, query="order shipped", mode="semantic", limit=500)
    assert body["limit"] == 50 and len(body["results"]) == 50
    for bad in (
        {"query": ""},
        {"query": "x", "mode": "fuzzy"},
        {"query": "x", "similarity_threshold": 2},
        {"query": "x", "sources": ["emails"]},
        {"query": "x", "date_from": "2025-02-01T00:00:00Z", "date_to": "2025-01-01T00:00:00Z"},
    ):
        r = await search_client.post("/api/v1/search", json=bad, headers=h)
        assert r.status_code == 422, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await search_client.post("/api/v1/search", json={"query": "x"})
    assert r.status_code == 401
    r = await search_client.post(
        "/api/v1/search", json={"query": "x"}, headers=auth(tenant, role=None, scopes=["write"])
    )
    assert r.status_code == 403


async def test_internal_endpoint_needs_service_token(search_client, session, handler, auth, make_token):
    tenant = uuid.uuid4()
    await index_message(handler, session, tenant, "opening hours are 9 to 5")
    body = {"query": "when are you open", "tenant_id": str(tenant), "mode": "semantic"}
    r = await search_client.post("/internal/v1/search", json=body, headers=auth(tenant))
    assert r.status_code == 403  # a user token, even of that tenant, is not a service
    svc = {"Authorization": f"Bearer {make_token(sub='svc:chat', tenant_id=None, role=None, scopes=['internal'])}"}
    r = await search_client.post("/internal/v1/search", json=body, headers=svc)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["text"] == "opening hours are 9 to 5"
    other = await search_client.post("/internal/v1/search", json=body | {"tenant_id": str(uuid.uuid4())}, headers=svc)
    assert other.json()["results"] == []
