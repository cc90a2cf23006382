"""Search test wiring: one local embedding model per test session, the app in the test's transaction,
and `drain()` to run the worker's handler on the events the API put in the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from services.search.app import create_app
from services.search.base import Outbox
from services.search.config import SearchSettings
from services.search.embeddings.local import LocalEmbeddings
from services.search.indexing.handlers import make_index_handler
from services.search.tenants.service import TenantProfiles
from shared.events.envelope import Envelope
from shared.events.relay import envelope_of
from shared.events.search import INDEX_STREAM, MESSAGE_UPSERTED
from tests.support.plugin import app_client


@pytest.fixture(scope="session")
def embedder() -> LocalEmbeddings:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    provider = LocalEmbeddings()
    provider.warm()
    return provider


@pytest.fixture
def search_settings(stack) -> SearchSettings:
    return stack.settings(SearchSettings, auth_url="", embed_batch_rows=4, chunk_chars=300, chunk_overlap_chars=80)


@pytest.fixture
async def search_client(stack, db_conn, embedder, search_settings):
    app = create_app(search_settings, embeddings=embedder)
    async with app_client(app, db_conn=db_conn) as c:
        yield c


@pytest.fixture
def tenants() -> TenantProfiles:
    return TenantProfiles(None)


@pytest.fixture
def handler(embedder, tenants, search_settings):
    return make_index_handler(embedder, tenants, search_settings)


@pytest.fixture
def auth(make_token):
    """auth(tenant_id, role='admin', scopes=None) -> headers."""

    def build(tenant_id, role: str | None = "admin", scopes: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role=role, scopes=scopes)}"}

    return build


async def drain(session, handler, max_events: int = 500) -> int:
    """Play the relay + consumer for search's own outbox: each unpublished search.index.v1 event, in order."""
    handled = 0
    while handled < max_events:
        row = (
            await session.execute(
                select(Outbox)
                .where(Outbox.published_at.is_(None), Outbox.stream == INDEX_STREAM)
                .order_by(Outbox.created_at, Outbox.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            return handled
        await session.execute(update(Outbox).where(Outbox.id == row.id).values(published_at=datetime.now(UTC)))
        await handler(envelope_of(row), session)
        await session.flush()
        handled += 1
    raise AssertionError("outbox did not drain")


async def index_message(handler, session, tenant_id, text, **fields) -> uuid.UUID:
    """What chat's search.index.v1 event does, through the real handler."""
    message_id = fields.pop("message_id", None) or uuid.uuid4()
    payload = {
        "message_id": str(message_id),
        "text": text,
        "created_at": fields.pop("created_at", datetime.now(UTC)).isoformat(),
        "role": "user",
    } | {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in fields.items()}
    envelope = Envelope(
        type=MESSAGE_UPSERTED, tenant_id=tenant_id, idempotency_key=f"message:{message_id}", payload=payload
    )
    await handler(envelope, session)
    await session.flush()
    return message_id


async def bulk_index(session, embedder, tenant_id, texts: list[str], ts_config: str = "english") -> list[uuid.UUID]:
    """Many messages with one batched model call (the handler embeds one message per event)."""
    from services.search.indexing.models import TenantIndex
    from services.search.indexing.repository import EntryRepository

    vectors = await embedder.embed(texts)
    repo = EntryRepository(session)
    ids = []
    for body, vec in zip(texts, vectors, strict=True):
        mid = uuid.uuid4()
        await repo.upsert_message(
            tenant_id,
            message_id=mid,
            thread_id=None,
            contact_id=None,
            sector=None,
            role="user",
            body=body,
            created_at=datetime.now(UTC),
            ts_config=ts_config,
            embedding=vec,
            model=embedder.model,
            dim=embedder.dimensions,
        )
        ids.append(mid)
    await session.merge(
        TenantIndex(
            tenant_id=tenant_id,
            embedding_model=embedder.model,
            embedding_dim=384,
            ts_config=ts_config,
            locale_checked_at=datetime.now(UTC),
        )
    )
    await session.flush()
    return ids
