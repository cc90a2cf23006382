"""The answer pipeline: store the incoming message (its own transaction), build the context, ask the LLM (or
the knowledge base) with no transaction open, store the answer (a second transaction).

Two transactions on purpose: the customer's message survives a provider outage (503 keeps it), and no
database connection is held for the seconds an LLM takes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
import structlog
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.models import Assistant
from services.chat.assistants.repository import AssistantRepository
from services.chat.base import Outbox
from services.chat.contacts.models import Contact
from services.chat.contacts.repository import ContactRepository
from services.chat.context.builder import (
    ConversationFacts,
    HistoryMessage,
    build_messages,
    select_history,
    system_prompt,
)
from services.chat.llm.knowledge import KnowledgeHit, SearchUnavailable
from services.chat.llm.provider import KNOWLEDGE_ONLY, LLMConfig, LLMStream
from services.chat.metrics.models import TokenUsage
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.errors import MessageEmpty, MessageTooLong, ThreadNotFound
from services.chat.threads.events import emit_index, emit_outbound, index_event, outbound_event
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import ThreadRepository
from services.chat.threads.schemas import MessageCreate, MessageRead, ThreadCreate
from services.chat.threads.service import ThreadService
from shared.db import utcnow
from shared.errors import AppError
from shared.events.chat import OUTBOUND_STREAM
from shared.events.outbox import DIRECT_PUBLISH_GRACE_SECONDS, committed_event, emit_many, publish_committed
from shared.events.raw import raw_connection
from shared.events.search import INDEX_STREAM, MESSAGE_UPSERTED

log = structlog.get_logger("answers")


@dataclass
class Turn:
    """One incoming message and everything its answer needs."""

    tenant: TenantSettings
    thread: Thread
    contact: Contact | None
    user_message: Message
    assistant: Assistant | None = None
    history: list[HistoryMessage] = field(default_factory=list)  # newest first
    needs_answer: bool = False
    config: LLMConfig | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    knowledge: list[KnowledgeHit] = field(default_factory=list)
    batch_key: str | None = None  # the channel burst this answers (services/chat/pipeline): one answer per burst

    @property
    def mode(self) -> str:
        return "llm" if self.config is not None and self.config.configured else KNOWLEDGE_ONLY


@dataclass
class Answer:
    content: str
    model: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: int | None = None
    incomplete: bool = False
    handover: bool = False


def history_of(messages: list[Message]) -> list[HistoryMessage]:
    """Stored messages as the model should see them: corrections applied, rejected answers left out."""
    out = []
    for m in messages:
        if m.role == "assistant" and m.review == "rejected" and not m.corrected_content:
            continue
        content = m.corrected_content or m.content
        if content:
            out.append(HistoryMessage(role=m.role, content=content))
    return out


class AnswerService:
    def __init__(self, runtime: ChatRuntime) -> None:
        self.rt = runtime
        self.settings = runtime.settings

    def check_length(self, content: str) -> None:
        limit = self.settings.message_max_chars
        if len(content) > limit:
            raise MessageTooLong(f"message is {len(content)} characters; the limit is {limit}")

    # -- step 1: the incoming message, committed on its own -------------------------------------------------

    async def create_thread(
        self, tenant_id: uuid.UUID, data: ThreadCreate, operator: str | None
    ) -> tuple[Thread, Turn | None]:
        message = data.message.strip() if data.message else None
        if data.message is not None and not message:
            raise MessageEmpty("message must not be empty")
        if message:
            self.check_length(message)
        tenant = await self.rt.tenants.get(tenant_id)
        async with self.rt.sessionmaker() as session, session.begin():
            thread = await ThreadService(session).create(tenant_id, data)
            turn = None
            if message:
                turn = await self._store_incoming(session, tenant, thread, MessageCreate(content=message), operator)
        if turn is not None:
            await self.prepare(turn)
        return thread, turn

    async def post(self, tenant_id: uuid.UUID, thread_id: uuid.UUID, data: MessageCreate, operator: str | None) -> Turn:
        self.check_length(data.content)
        tenant = await self.rt.tenants.get(tenant_id)
        async with self.rt.sessionmaker() as session, session.begin():
            thread = await ThreadRepository(session).get(tenant_id, thread_id, lock=True)
            if thread is None:
                raise ThreadNotFound(f"thread {thread_id} not found")
            turn = await self._store_incoming(session, tenant, thread, data, operator)
        await self.prepare(turn)
        return turn

    async def _store_incoming(
        self, session: AsyncSession, tenant: TenantSettings, thread: Thread, data: MessageCreate, operator: str | None
    ) -> Turn:
        agent = data.role == "agent"
        message = Message(
            id=uuid.uuid4(),
            tenant_id=thread.tenant_id,
            thread_id=thread.id,
            contact_id=thread.contact_id,
            role=data.role,
            content=data.content,
            sector=thread.sector,
            validated_by="human" if agent else None,
            operator_name=(data.operator_name or operator) if agent else None,
            incomplete=False,
            created_at=utcnow(),
        )
        session.add(message)
        await session.flush()
        thread.last_message_at = message.created_at
        contact = (
            await ContactRepository(session).get(thread.tenant_id, thread.contact_id) if thread.contact_id else None
        )
        if contact is not None:
            contact.last_seen_at = message.created_at if not agent else contact.last_seen_at
        await emit_index(session, thread, message)
        turn = Turn(tenant=tenant, thread=thread, contact=contact, user_message=message)
        if agent:
            thread.needs_human = False
            await emit_outbound(session, thread, contact, message, message.content, tenant.split_replies)
            return turn
        if not thread.ai_enabled:
            return turn  # a human has taken over: never call the LLM
        turn.needs_answer = True
        if thread.assistant_id:
            turn.assistant = await AssistantRepository(session).get(thread.tenant_id, thread.assistant_id)
        recent = await ThreadRepository(session).recent_messages(
            thread.tenant_id, thread.id, self.settings.context_max_messages
        )
        turn.history = history_of(recent)
        return turn

    # -- step 2: context, outside any transaction -----------------------------------------------------------

    async def prepare(self, turn: Turn) -> None:
        if not turn.needs_answer:
            return
        turn.config = self.rt.llm_config(turn.tenant, turn.assistant)
        use_knowledge = turn.assistant.use_knowledge if turn.assistant else True
        if use_knowledge or turn.mode == KNOWLEDGE_ONLY:
            try:
                turn.knowledge = await self.rt.search.search(
                    turn.thread.tenant_id,
                    turn.user_message.content,
                    limit=self.settings.knowledge_limit,
                    threshold=self.settings.knowledge_threshold,
                )
            except SearchUnavailable:
                turn.knowledge = []
        turn.knowledge = [h for h in turn.knowledge if h.score >= self.settings.knowledge_threshold]
        facts = ConversationFacts(
            contact_name=turn.contact.name if turn.contact else None,
            channel=turn.thread.channel,
            timezone=turn.tenant.timezone,
        )
        system = system_prompt(
            turn.tenant.system_prompt,
            turn.assistant.instructions if turn.assistant else "",
            [h.text for h in turn.knowledge],
            facts,
        )
        history = select_history(
            turn.history,
            max_messages=self.settings.context_max_messages,
            token_budget=self.settings.context_token_budget,
            counter=self.rt.counter,
        )
        turn.messages = build_messages(system, history)

    # -- step 3: the answer ---------------------------------------------------------------------------------

    def knowledge_answer(self, turn: Turn) -> Answer:
        if turn.knowledge:
            return Answer(content=turn.knowledge[0].text, model=KNOWLEDGE_ONLY, latency_ms=0)
        return Answer(content=self.settings.handover_message, model=KNOWLEDGE_ONLY, latency_ms=0, handover=True)

    async def answer(self, turn: Turn) -> Message | None:
        """Non-streaming: the whole answer, stored. Provider down -> LLMUnavailable (the user message is kept)."""
        answer = await self.generate(turn)
        return await self.store_answer(turn, answer) if answer is not None else None

    async def generate(self, turn: Turn) -> Answer | None:
        """The answer, not stored yet (the LLM's, or the knowledge base's without one)."""
        if not turn.needs_answer:
            return None
        if turn.mode == KNOWLEDGE_ONLY:
            return self.knowledge_answer(turn)
        assistant_temp = turn.assistant.temperature if turn.assistant else None
        started = time.perf_counter()
        completion = await self.rt.llm.complete(turn.config, turn.messages, temperature=assistant_temp)
        return Answer(
            content=completion.content,
            model=completion.model,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    async def open_stream(self, turn: Turn) -> LLMStream | None:
        """Start the provider's stream before any byte goes to the client, so a dead provider is a clean 503."""
        if not turn.needs_answer or turn.mode == KNOWLEDGE_ONLY:
            return None
        temp = turn.assistant.temperature if turn.assistant else None
        return await self.rt.llm.stream(turn.config, turn.messages, temperature=temp)

    async def stream_events(self, turn: Turn, stream: LLMStream | None) -> AsyncIterator[dict[str, str]]:
        """SSE events: `start` (the stored user message), `delta`s, then `done` with the stored answer. A client
        that goes away mid-stream still gets what was generated stored, marked incomplete."""
        yield {"event": "start", "data": _json({"user_message": MessageRead.model_validate(turn.user_message)})}
        if not turn.needs_answer:
            yield {"event": "done", "data": "null"}
            return
        if stream is None:
            answer = self.knowledge_answer(turn)
            yield {"event": "delta", "data": _json({"content": answer.content})}
            stored = await self.store_answer(turn, answer)
            yield {"event": "done", "data": _json(MessageRead.model_validate(stored))}
            return
        pieces: list[str] = []
        started = time.perf_counter()
        finished = False
        try:
            async for piece in stream:
                pieces.append(piece)
                yield {"event": "delta", "data": _json({"content": piece})}
            finished = True
        except AppError as exc:
            log.warning("llm_stream_broken", error=exc.code)
            yield {"event": "error", "data": _json({"status": exc.status, "code": exc.code, "detail": exc.detail})}
        finally:
            if not finished:
                # Cancelled (client gone) or broken: keep what was generated, in a scope the cancel cannot reach.
                with anyio.CancelScope(shield=True):
                    await _quiet_close(stream)
                    if pieces:
                        await self.store_answer(turn, self._streamed(turn, stream, pieces, started, incomplete=True))
        if not finished:
            return
        stored = await self.store_answer(turn, self._streamed(turn, stream, pieces, started, incomplete=False))
        yield {"event": "done", "data": _json(MessageRead.model_validate(stored))}

    def _streamed(self, turn: Turn, stream: LLMStream, pieces: list[str], started: float, *, incomplete: bool):
        content = "".join(pieces)
        tokens_in = stream.tokens_in
        tokens_out = stream.tokens_out
        if tokens_in is None:
            tokens_in = sum(self.rt.counter.count(str(m["content"])) + 4 for m in turn.messages)
        if tokens_out is None or incomplete:
            tokens_out = self.rt.counter.count(content) if content else 0
        return Answer(
            content=content,
            model=stream.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=int((time.perf_counter() - started) * 1000),
            incomplete=incomplete,
        )

    async def store_answer(self, turn: Turn, answer: Answer) -> Message:
        tenant_id = turn.thread.tenant_id
        created_at = utcnow()
        changes: dict[str, Any] = {"last_message_at": created_at}
        if answer.handover:
            changes["needs_human"] = True
        async with self.rt.sessionmaker() as session, session.begin():
            # The UPDATE is also the thread's row lock (concurrent answers to one thread queue here).
            thread = (
                await session.scalars(
                    update(Thread)
                    .where(Thread.id == turn.thread.id, Thread.tenant_id == tenant_id)
                    .values(**changes)
                    .returning(Thread),
                    execution_options={"populate_existing": True},
                )
            ).first()
            if thread is None:  # pragma: no cover - threads are never hard-deleted
                raise ThreadNotFound(f"thread {turn.thread.id} not found")
            validated = "pending" if turn.tenant.require_approval else "ai"
            message = (
                await session.scalars(
                    insert(Message)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        thread_id=thread.id,
                        contact_id=thread.contact_id,
                        role="assistant",
                        content=answer.content,
                        sector=thread.sector,
                        validated_by=validated,
                        model=answer.model,
                        tokens_in=answer.tokens_in,
                        tokens_out=answer.tokens_out,
                        latency_ms=answer.latency_ms,
                        incomplete=answer.incomplete,
                        batch_key=turn.batch_key,
                        created_at=created_at,
                    )
                    .returning(Message)
                )
            ).one()
            events = [index_event(message, thread)]
            if validated == "ai" and not answer.incomplete:
                reply = outbound_event(thread, turn.contact, message, answer.content, turn.tenant.split_replies)
                events += [reply] if reply is not None else []
            await emit_many(session, Outbox, events)  # one statement for both
            if answer.model != KNOWLEDGE_ONLY:
                await record_usage(session, tenant_id, answer.model, answer.tokens_in or 0, answer.tokens_out or 0)
        return message

    async def store_channel_answer(self, turn: Turn, answer: Answer) -> Message:
        """`store_answer` for the channel pipeline's flusher, in one autocommit statement (the thread's row lock is
        its UPDATE, the answer, its outbox rows and the token usage), its events published right after the commit
        instead of through the relay (which remains the safety net, shared/events/outbox.py). A second answer to
        the same context fails on `batch_key` as a whole: asyncpg's UniqueViolationError, nothing stored."""
        tenant_id = turn.thread.tenant_id
        created_at = utcnow()
        validated = "pending" if turn.tenant.require_approval else "ai"
        message = Message(
            id=uuid.uuid4(), tenant_id=tenant_id, thread_id=turn.thread.id, contact_id=turn.thread.contact_id,
            role="assistant", content=answer.content, sector=turn.thread.sector, validated_by=validated,
            model=answer.model, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, latency_ms=answer.latency_ms,
            incomplete=answer.incomplete, batch_key=turn.batch_key, created_at=created_at,
        )  # fmt: skip
        index = index_event(message, turn.thread)
        index_payload = {k: v for k, v in index.payload.items() if k not in ("contact_id", "sector")}  # the row's
        reply = None
        if validated == "ai" and not answer.incomplete:
            reply = outbound_event(turn.thread, turn.contact, message, answer.content, turn.tenant.split_replies)
        usage = answer.model != KNOWLEDGE_ONLY
        async with raw_connection(self.rt.sessionmaker, autocommit=True) as conn:
            rows = await conn.fetch(
                SQL_STORE_CHANNEL_ANSWER,
                tenant_id, turn.thread.id, created_at, answer.handover, message.id, answer.content, validated,
                answer.model, answer.tokens_in, answer.tokens_out, answer.latency_ms, answer.incomplete,
                turn.batch_key, uuid.uuid4(), index.idempotency_key, orjson.dumps(index_payload).decode(),
                uuid.uuid4() if reply else None, reply.idempotency_key if reply else None,
                orjson.dumps(reply.payload).decode() if reply else None, DIRECT_PUBLISH_GRACE_SECONDS,
                usage, created_at.date(), (answer.model or "")[:200], answer.tokens_in or 0, answer.tokens_out or 0,
            )  # fmt: skip
            if not rows:  # pragma: no cover - threads are never hard-deleted
                raise ThreadNotFound(f"thread {turn.thread.id} not found")
            message.seq = rows[0]["seq"]
            events = [committed_event(r) for r in rows if r["id"] is not None]
            # Outbound first: it is what the customer waits for.
            events.sort(key=lambda e: e.stream != OUTBOUND_STREAM)
            await publish_committed(
                self.rt.state.redis, conn, Outbox.__table__.fullname, events, maxlen=self.settings.events_stream_maxlen
            )
        return message


def _sql_store_channel_answer() -> str:
    thread, message = Thread.__table__.fullname, Message.__table__.fullname
    outbox, usage = Outbox.__table__.fullname, TokenUsage.__table__.fullname
    return f"""
WITH thread AS (
    UPDATE {thread} SET last_message_at = $3, updated_at = $3, needs_human = needs_human OR $4
    WHERE id = $2 AND tenant_id = $1
    RETURNING id, contact_id, sector
), message AS (
    INSERT INTO {message} (id, tenant_id, thread_id, contact_id, role, content, sector, validated_by, model,
                           tokens_in, tokens_out, latency_ms, incomplete, batch_key, created_at)
    SELECT $5, $1, thread.id, thread.contact_id, 'assistant', $6, thread.sector, $7, $8, $9, $10, $11, $12, $13, $3
    FROM thread
    RETURNING id, contact_id, sector, seq
), events AS (
    INSERT INTO {outbox} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT $14::uuid, '{INDEX_STREAM}', '{MESSAGE_UPSERTED}', $1, $15::text,
           $16::jsonb
               || jsonb_strip_nulls(jsonb_build_object('contact_id', message.contact_id, 'sector', message.sector)),
           $3, now() + make_interval(secs => $20)
    FROM message
    UNION ALL
    SELECT $17::uuid, '{OUTBOUND_STREAM}', '{OUTBOUND_STREAM}', $1, $18::text, $19::jsonb, $3,
           now() + make_interval(secs => $20)
    FROM message
    WHERE $17::uuid IS NOT NULL
    RETURNING id, stream, type, tenant_id, idempotency_key, payload, occurred_at
), usage AS (
    INSERT INTO {usage} AS u (tenant_id, day, model, requests, tokens_in, tokens_out)
    SELECT $1, $22, $23, 1, $24, $25 FROM message WHERE $21
    ON CONFLICT (tenant_id, day, model) DO UPDATE
    SET requests = u.requests + 1, tokens_in = u.tokens_in + excluded.tokens_in,
        tokens_out = u.tokens_out + excluded.tokens_out
)
SELECT message.seq, events.* FROM message LEFT JOIN events ON true
"""


SQL_STORE_CHANNEL_ANSWER = _sql_store_channel_answer()


async def record_usage(session: AsyncSession, tenant_id: uuid.UUID, model: str, tokens_in: int, tokens_out: int):
    stmt = insert(TokenUsage).values(
        tenant_id=tenant_id,
        day=utcnow().date(),
        model=model[:200],
        requests=1,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[TokenUsage.tenant_id, TokenUsage.day, TokenUsage.model],
        set_={
            "requests": TokenUsage.requests + 1,
            "tokens_in": TokenUsage.tokens_in + stmt.excluded.tokens_in,
            "tokens_out": TokenUsage.tokens_out + stmt.excluded.tokens_out,
        },
    )
    await session.execute(stmt)


async def _quiet_close(stream: LLMStream) -> None:
    try:
        await stream.aclose()
    except Exception:  # noqa: BLE001, S110 - closing a broken stream may fail; nothing to do
        pass


def _json(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, dict):
        value = {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v) for k, v in value.items()}
    return orjson.dumps(value).decode()
