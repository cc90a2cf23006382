"""Documents and their bytes; every method takes tenant_id, except the worker's fair claim across tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.search.documents.models import Document, DocumentBlob
from shared.db import utcnow
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


@dataclass(frozen=True)
class DocumentUsage:
    """What a tenant holds against its document quotas."""

    documents: int
    bytes: int


class DocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, doc: Document, content: bytes) -> Document:
        self.session.add(doc)
        await self.session.flush()
        self.session.add(DocumentBlob(document_id=doc.id, tenant_id=doc.tenant_id, content=content))
        await self.session.flush()
        return doc

    async def get(self, tenant_id: uuid.UUID, document_id: uuid.UUID, *, lock: bool = False) -> Document | None:
        stmt = select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()

    async def content(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> bytes | None:
        return await self.session.scalar(
            select(DocumentBlob.content).where(
                DocumentBlob.tenant_id == tenant_id, DocumentBlob.document_id == document_id
            )
        )

    async def page(self, tenant_id: uuid.UUID, page: PageParams) -> KeysetPage[Document]:
        """Newest first."""
        stmt = select(Document).where(Document.tenant_id == tenant_id)
        return await keyset_page(self.session, stmt, Keyset.created(Document, descending=True), page)

    async def delete(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        await self.session.execute(delete(Document).where(Document.tenant_id == tenant_id, Document.id == document_id))

    async def usage(self, tenant_id: uuid.UUID) -> DocumentUsage:
        stmt = select(func.count(), func.coalesce(func.sum(Document.size_bytes), 0)).where(
            Document.tenant_id == tenant_id
        )
        count, size = (await self.session.execute(stmt)).one()
        return DocumentUsage(documents=int(count), bytes=int(size))

    async def claim_next(self) -> Document | None:
        """The next document with a step to run, round-robin across tenants, locked until the caller commits.

        The tenant whose latest step is oldest goes first (never served: first of all), then its oldest
        document; SKIP LOCKED lets several workers take steps at once, never of the same document."""
        queue, other = aliased(Document), aliased(Document)
        waiting = select(queue.tenant_id).where(queue.status == "processing").distinct().cte("waiting")
        served = select(func.max(other.served_at)).where(other.tenant_id == waiting.c.tenant_id).scalar_subquery()
        turns = select(waiting.c.tenant_id, served.label("served_at")).cte("turns")
        pick = (
            select(queue.id)
            .join(turns, turns.c.tenant_id == queue.tenant_id)
            .where(queue.status == "processing")
            .order_by(turns.c.served_at.asc().nulls_first(), queue.created_at, queue.id)
            .limit(1)
            .with_for_update(of=queue, skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(Document)
            .where(Document.id == pick, Document.status == "processing")
            .values(served_at=utcnow())
            .returning(Document)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
