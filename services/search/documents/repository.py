"""Documents and their bytes; every method takes tenant_id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.documents.models import Document, DocumentBlob


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

    async def page(self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Document]:
        """Newest first, keyset on (created_at, id)."""
        stmt = select(Document).where(Document.tenant_id == tenant_id)
        if after is not None:
            at, did = after
            stmt = stmt.where(or_(Document.created_at < at, and_(Document.created_at == at, Document.id < did)))
        stmt = stmt.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def delete(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        await self.session.execute(delete(Document).where(Document.tenant_id == tenant_id, Document.id == document_id))
