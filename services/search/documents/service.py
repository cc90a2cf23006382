"""Knowledge documents: accept an upload, then (in the worker) parse, chunk and embed it in steps."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.search.base import Outbox
from services.search.config import SearchSettings
from services.search.documents.errors import DocumentNotFound, DocumentTooLarge, EmptyDocument, UnsupportedDocumentType
from services.search.documents.models import Document
from services.search.documents.parsing import (
    ExtractLimits,
    UnreadableDocument,
    chunk_text,
    extract_text,
    sniff_kind,
)
from services.search.documents.repository import DocumentRepository
from services.search.embeddings.base import EmbeddingProvider
from services.search.indexing.repository import EntryRepository
from services.search.indexing.service import EMBED_INPUT_CHARS, claim_identity
from services.search.tenants.service import TenantProfiles
from shared.db import utcnow
from shared.events.outbox import emit_event
from shared.events.search import DOCUMENT_EMBED, DOCUMENT_PROCESS, DocumentStep
from shared.logging import get_logger
from shared.pagination import KeysetPage, PageParams
from shared.quotas import enforce, lock_tenant_quota

log = get_logger("search.documents")
MAX_CHUNKS = 20_000
QUOTA_LOCK = "search.documents"


class DocumentService:
    def __init__(self, session: AsyncSession, settings: SearchSettings) -> None:
        self.session = session
        self.settings = settings
        self.documents = DocumentRepository(session)
        self.entries = EntryRepository(session)

    async def upload(self, tenant_id: uuid.UUID, filename: str | None, content: bytes) -> Document:
        """Store the file and queue its processing; the type comes from the bytes, never the client's header."""
        if len(content) > self.settings.max_document_bytes:
            raise DocumentTooLarge(f"the file is larger than {self.settings.max_document_bytes} bytes")
        if not content:
            raise EmptyDocument("the file is empty")
        kind = sniff_kind(content[:8192], filename)
        if kind is None:
            raise UnsupportedDocumentType(
                "unsupported file type: upload a PDF, Word (.docx), plain text or Markdown file"
            )
        await lock_tenant_quota(self.session, QUOTA_LOCK, tenant_id)  # until commit: concurrent uploads queue here
        usage = await self.documents.usage(tenant_id)
        enforce("documents", self.settings.tenant_max_documents, usage.documents)
        enforce("document_bytes", self.settings.tenant_max_document_bytes, usage.bytes, len(content), unit="bytes")
        name = (filename or f"document.{kind}").replace("\x00", "").strip()[:255] or f"document.{kind}"
        doc = Document(
            tenant_id=tenant_id,
            filename=name,
            kind=kind,
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            status="processing",
            chunks=0,
            embedded=0,
        )
        await self.documents.add(doc, content)
        await emit_event(
            self.session,
            Outbox,
            DOCUMENT_PROCESS,
            DocumentStep(document_id=doc.id),
            idempotency_key=f"{DOCUMENT_PROCESS}:{doc.id}",
            tenant_id=tenant_id,
        )
        return doc

    async def get(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
        doc = await self.documents.get(tenant_id, document_id)
        if doc is None:
            raise DocumentNotFound("document not found")
        return doc

    async def page(self, tenant_id: uuid.UUID, page: PageParams) -> KeysetPage[Document]:
        return await self.documents.page(tenant_id, page)

    async def delete(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Remove the document, its bytes and every chunk at once (the row lock orders it with the worker)."""
        doc = await self.documents.get(tenant_id, document_id, lock=True)
        if doc is None:
            raise DocumentNotFound("document not found")
        removed = await self.entries.delete_document(tenant_id, document_id)
        await self.documents.delete(tenant_id, document_id)
        log.info("document_deleted", tenant_id=str(tenant_id), document_id=str(document_id), chunks=removed)


class DocumentProcessor:
    """Worker side: parse + chunk (one step), then embed `embed_batch_rows` chunks per step with progress."""

    def __init__(
        self,
        session: AsyncSession,
        provider: EmbeddingProvider,
        tenants: TenantProfiles,
        settings: SearchSettings,
    ) -> None:
        self.session = session
        self.provider = provider
        self.tenants = tenants
        self.settings = settings
        self.documents = DocumentRepository(session)
        self.entries = EntryRepository(session)

    async def step_next(self) -> None:
        """One turn (a document event is a turn, not an order): a step of the next document in the fair order across
        tenants, whichever document the event named, so one tenant's backlog never holds the others back."""
        doc = await self.documents.claim_next()
        if doc is None:
            return  # an earlier turn already took the step this event was for
        if doc.chunks:
            await self.embed_step(doc.tenant_id, doc.id, _doc=doc)
        else:
            await self.process(doc.tenant_id, doc.id, _doc=doc)

    async def process(self, tenant_id: uuid.UUID, document_id: uuid.UUID, *, _doc: Document | None = None) -> None:
        doc = _doc or await self.documents.get(tenant_id, document_id, lock=True)
        if doc is None or doc.status != "processing" or doc.chunks:
            return  # deleted meanwhile, or this step already ran
        content = await self.documents.content(tenant_id, document_id)
        try:
            if content is None:
                raise UnreadableDocument("the uploaded file is missing")
            limits = ExtractLimits.from_settings(self.settings)
            text = await asyncio.to_thread(extract_text, content, doc.kind, limits)
            chunks = await asyncio.to_thread(
                chunk_text, text, self.settings.chunk_chars, self.settings.chunk_overlap_chars
            )
            if not chunks:
                raise UnreadableDocument("the document has no text")
            if len(chunks) > MAX_CHUNKS:
                raise UnreadableDocument(f"the document is too long ({len(chunks)} passages; at most {MAX_CHUNKS})")
        except UnreadableDocument as exc:
            doc.status = "failed"
            doc.error = str(exc)
            await self.session.flush()
            log.info("document_failed", tenant_id=str(tenant_id), document_id=str(document_id), error=str(exc))
            return
        profile = await self.tenants.profile(self.session, tenant_id)
        await self.entries.insert_chunks(tenant_id, document_id, chunks, profile.ts_config)
        doc.chunks = len(chunks)
        await self.session.flush()
        await self.embed_step(tenant_id, document_id, _doc=doc)

    async def embed_step(self, tenant_id: uuid.UUID, document_id: uuid.UUID, *, _doc: Document | None = None) -> None:
        doc = _doc or await self.documents.get(tenant_id, document_id, lock=True)
        if doc is None or doc.status != "processing":
            return
        batch = await self.entries.unembedded_chunks(tenant_id, document_id, self.settings.embed_batch_rows)
        if batch:
            vectors = await self.provider.embed([t[:EMBED_INPUT_CHARS] for _, t in batch], tenant_id=tenant_id)
            await self.entries.set_embeddings(
                tenant_id,
                [(i, v) for (i, _), v in zip(batch, vectors, strict=True)],
                self.provider.model,
                self.provider.dimensions,
            )
            await claim_identity(await self.tenants.profile(self.session, tenant_id), self.provider)
        doc.embedded = min(doc.chunks, doc.embedded + len(batch))
        if len(batch) < self.settings.embed_batch_rows:
            doc.status = "ready"
            doc.embedded = doc.chunks
            doc.ready_at = utcnow()
            await self.session.flush()
            log.info("document_ready", tenant_id=str(tenant_id), document_id=str(document_id), chunks=doc.chunks)
            return
        await self.session.flush()
        await emit_event(
            self.session,
            Outbox,
            DOCUMENT_EMBED,
            DocumentStep(document_id=document_id),
            idempotency_key=f"{DOCUMENT_EMBED}:{document_id}:{doc.embedded}",
            tenant_id=tenant_id,
        )
