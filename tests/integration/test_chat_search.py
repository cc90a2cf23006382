"""Chat and search together: chat's search.index.v1 events through search's real handler, and chat's
knowledge-only answers from the real search service over HTTP (service token from the real auth service).

Wiring: auth and search are served over real HTTP (serve_app), chat runs in-process; all three share the test's
transaction. The relay's hop (outbox row -> Redis stream -> consumer) is played by `relay()`: each unpublished
row of a service's outbox on search.index.v1 becomes the same Envelope the relay publishes (`envelope_of`) and
goes to search's real index handler, in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, text, update

from services.auth.app import create_app as create_auth_app
from services.auth.config import AuthSettings
from services.chat.app import create_app as create_chat_app
from services.chat.base import Outbox as ChatOutbox
from services.chat.config import ChatSettings
from services.search.app import create_app as create_search_app
from services.search.base import Outbox as SearchOutbox
from services.search.config import SearchSettings
from services.search.embeddings.local import LocalEmbeddings
from services.search.indexing.handlers import make_index_handler
from shared.db import create_sessionmaker
from shared.events.envelope import Envelope
from shared.events.relay import envelope_of
from shared.events.search import INDEX_STREAM, MESSAGE_DELETED, MESSAGE_UPSERTED, MESSAGES_RESTORED
from tests.support.plugin import app_client, serve_app
from tests.support.tenants import tenant_admin

HANDOVER = "A person from our team will answer you shortly."
THRESHOLD = 0.5
RETURNS = (
    "Returns policy: you can return any unused item within 30 days of delivery for a full refund. "
    "Print the prepaid label from your order page and drop the parcel at any post office."
)
DOCUMENT = (
    "# Acme help centre\n\n"
    f"{RETURNS}\n\n"
    "Opening hours: our shop in Porto opens Monday to Saturday from 9am to 7pm and is closed on Sundays.\n"
)


@pytest.fixture(scope="session")
def embedder() -> LocalEmbeddings:
    """The packaged all-MiniLM-L6-v2 (the loader is cached per process: shared with tests/search)."""
    provider = LocalEmbeddings()
    provider.warm()
    return provider


class Stack:
    """The three services of one test and the tenant admin's headers (a real tenant created in auth)."""

    def __init__(self, auth, search, search_app, chat, session) -> None:
        self.auth, self.search, self.search_app, self.chat, self.session = auth, search, search_app, chat, session
        self.headers: dict[str, str] = {}
        self.tenant_id = ""
        settings: SearchSettings = search_app.state.settings
        self.handler = make_index_handler(search_app.state.embeddings, search_app.state.tenants, settings)
        self.handled: list[str] = []

    async def tenant_admin(self) -> None:
        t = await tenant_admin(self.auth, "Tess", tenant_name="Acme")
        self.headers, self.tenant_id = t.headers, t.tenant_id

    async def relay(self, outbox) -> list[str]:
        """Hand every unpublished search.index.v1 row of `outbox` to search's real handler; -> event types."""
        types = []
        for _ in range(500):
            row = (
                await self.session.execute(
                    select(outbox)
                    .where(outbox.published_at.is_(None), outbox.stream == INDEX_STREAM)
                    .order_by(outbox.created_at, outbox.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None:
                self.handled += types
                return types
            await self.session.execute(update(outbox).where(outbox.id == row.id).values(published_at=datetime.now(UTC)))
            await self.handler(envelope_of(row), self.session)
            await self.session.flush()
            types.append(row.type)
        raise AssertionError("outbox did not drain")

    async def find(self, query: str, **body) -> list[dict]:
        r = await self.search.post(
            "/api/v1/search", json={"query": query, "sources": ["messages"], **body}, headers=self.headers
        )
        assert r.status_code == 200, r.text
        return r.json()["results"]


@pytest.fixture
async def services(stack, db_conn, redis, session, embedder):
    auth_app = create_auth_app(stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1))
    async with serve_app(auth_app) as auth_url:
        auth_app.state.sessionmaker = create_sessionmaker(db_conn)
        # search trusts auth's signing key through auth's JWKS (auth_url) and reads tenant locales from it
        search_settings = stack.settings(SearchSettings, auth_url=auth_url, chunk_chars=220, chunk_overlap_chars=0)
        search_app = create_search_app(search_settings, embeddings=embedder)
        async with serve_app(search_app) as search_url:
            search_app.state.sessionmaker = create_sessionmaker(db_conn)
            chat_settings = stack.settings(
                ChatSettings,
                llm_base_url="",  # no LLM anywhere: knowledge-only mode
                llm_api_key="",
                auth_url=auth_url,
                tenant_settings_url=auth_url,
                search_url=search_url,
                knowledge_threshold=THRESHOLD,
                handover_message=HANDOVER,
            )
            chat_app = create_chat_app(chat_settings)
            async with (
                app_client(chat_app, db_conn=db_conn) as chat,
                httpx.AsyncClient(base_url=auth_url) as auth,
                httpx.AsyncClient(base_url=search_url) as search,
            ):
                s = Stack(auth, search, search_app, chat, session)
                await s.tenant_admin()
                yield s


async def test_chat_messages_are_indexed_reviewed_hidden_and_restored(services):
    s = services
    r = await s.chat.post(
        "/api/v1/threads",
        json={"message": "The ceramic vase in my parcel arrived shattered into pieces"},
        headers=s.headers,
    )
    assert r.status_code == 201, r.text
    thread_id = r.json()["id"]
    other = await s.chat.post(
        "/api/v1/threads", json={"message": "Do you deliver bicycles to Madeira?"}, headers=s.headers
    )
    assert other.status_code == 201, other.text

    assert set(await s.relay(ChatOutbox)) == {MESSAGE_UPSERTED}
    hits = await s.find("broken vase in the parcel", mode="semantic")
    assert hits[0]["text"] == "The ceramic vase in my parcel arrived shattered into pieces"
    assert hits[0]["thread_id"] == thread_id and hits[0]["role"] == "user"
    user_message_id = hits[0]["id"]
    # knowledge-only with nothing above the threshold: the handover answer was stored and indexed too
    answers = [h for h in await s.find("team will answer you shortly", mode="keyword") if h["thread_id"] == thread_id]
    assert [h["role"] for h in answers] == ["assistant"] and answers[0]["text"] == HANDOVER

    # a review correction replaces the indexed text
    r = await s.chat.patch(
        f"/api/v1/messages/{answers[0]['id']}",
        json={"review": "rejected", "corrected_content": "We are sending a replacement vase today."},
        headers=s.headers,
    )
    assert r.status_code == 200, r.text
    assert await s.relay(ChatOutbox) == [MESSAGE_UPSERTED]
    corrected = await s.find("replacement vase", mode="keyword")
    assert [h["id"] for h in corrected] == [answers[0]["id"]]
    assert corrected[0]["text"] == "We are sending a replacement vase today."
    assert [
        h for h in await s.find("team will answer you shortly", mode="keyword") if h["thread_id"] == thread_id
    ] == []

    # thread soft delete: none of its messages is found in any mode; the other thread still is
    r = await s.chat.delete(f"/api/v1/threads/{thread_id}", headers=s.headers)
    assert r.status_code == 204, r.text
    assert await s.relay(ChatOutbox) == [MESSAGE_DELETED]
    for mode in ("semantic", "keyword", "hybrid"):
        found = await s.find("vase parcel shattered replacement", mode=mode, limit=50)
        assert all(h["thread_id"] != thread_id for h in found), (mode, found)
    assert (await s.find("bicycles delivered to Madeira", mode="semantic"))[0]["text"].startswith("Do you deliver")

    # restore: the same messages (and the corrected text) come back
    r = await s.chat.post(f"/api/v1/threads/{thread_id}/restore", headers=s.headers)
    assert r.status_code == 200, r.text
    assert await s.relay(ChatOutbox) == [MESSAGES_RESTORED]
    assert (await s.find("broken vase in the parcel", mode="semantic"))[0]["id"] == user_message_id
    assert [h["id"] for h in await s.find("replacement vase", mode="keyword")] == [answers[0]["id"]]
    # and delete again works after a restore (a new event, not swallowed as a duplicate)
    assert (await s.chat.delete(f"/api/v1/threads/{thread_id}", headers=s.headers)).status_code == 204
    assert await s.relay(ChatOutbox) == [MESSAGE_DELETED]
    assert all(h["thread_id"] != thread_id for h in await s.find("broken vase in the parcel", mode="semantic"))

    # an erasure (hard delete, e.g. GDPR) of the hidden thread is final: a later restore does not bring it back
    tenant = uuid.UUID(s.tenant_id)
    for type_, payload in ((MESSAGE_DELETED, {"thread_id": thread_id}), (MESSAGES_RESTORED, {"thread_id": thread_id})):
        await s.handler(
            Envelope(type=type_, tenant_id=tenant, idempotency_key=uuid.uuid4().hex, payload=payload), s.session
        )
    await s.session.flush()
    texts = await s.session.execute(
        text("SELECT text, embedding IS NULL, deleted_at IS NOT NULL FROM search.entry WHERE thread_id = :t"),
        {"t": uuid.UUID(thread_id)},
    )
    assert sorted(texts.all()) == [("", True, True), ("", True, True)]
    assert all(h["thread_id"] != thread_id for h in await s.find("broken vase in the parcel", mode="semantic"))


async def upload_ready_document(s: Stack) -> str:
    files = {"file": ("help.md", DOCUMENT.encode(), "text/markdown")}
    r = await s.search.post("/api/v1/documents", files=files, headers=s.headers)
    assert r.status_code == 202, r.text
    doc_id = r.json()["id"]
    await s.relay(SearchOutbox)  # parse, chunk, embed (search's own steps, same handler)
    r = await s.search.get(f"/api/v1/documents/{doc_id}", headers=s.headers)
    assert r.json()["status"] == "ready" and r.json()["embedded"] == r.json()["chunks"] >= 2, r.json()
    return doc_id


async def test_knowledge_only_answers_from_a_document_and_hands_over_below_the_threshold(services):
    s = services
    await upload_ready_document(s)

    r = await s.chat.post("/api/v1/threads", json={}, headers=s.headers)
    assert r.status_code == 201, r.text
    thread_id = r.json()["id"]
    r = await s.chat.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"content": "How do I return an item and get a refund?"},
        headers=s.headers,
    )
    assert r.status_code == 201, r.text
    answer = r.json()["assistant_message"]
    assert answer["model"] == "knowledge-only"
    # the returns passage (its chunk), word for word, from the real search service; not the opening hours
    assert RETURNS in answer["content"] and "Opening hours" not in answer["content"], answer
    thread = (await s.chat.get(f"/api/v1/threads/{thread_id}", headers=s.headers)).json()
    assert thread["needs_human"] is False

    # nothing similar enough: hand over to a human
    r = await s.chat.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"content": "Which football team won the 1998 world cup final?"},
        headers=s.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["assistant_message"]["content"] == HANDOVER
    thread = (await s.chat.get(f"/api/v1/threads/{thread_id}", headers=s.headers)).json()
    assert thread["needs_human"] is True


async def test_a_keyword_only_match_is_not_knowledge(services):
    """Hybrid returns keyword hits that the semantic threshold removed (RRF score, no similarity): chat must not
    answer with them. 'Sundays' matches the opening-hours passage by keyword; the question is not about it."""
    s = services
    await upload_ready_document(s)
    question = "Sundays"
    r = await s.search.post(
        "/api/v1/search",
        json={"query": question, "sources": ["documents"], "mode": "hybrid", "similarity_threshold": THRESHOLD},
        headers=s.headers,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    # the premise: search answers with a keyword-only hit whose similarity is null and score is an RRF score
    assert results and results[0]["similarity"] is None and results[0]["keyword_rank"] is not None
    assert results[0]["score"] < THRESHOLD  # an RRF score: comparing it with the threshold would be meaningless
    r = await s.chat.post("/api/v1/threads", json={"message": question}, headers=s.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["assistant_message"]["content"] == HANDOVER, body
