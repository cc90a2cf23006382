"""The answer pipeline: store the incoming message (its own transaction), build the context, ask the LLM (or
the knowledge base) with no transaction open, store the answer (a second transaction). The channel pipeline's
flusher runs the same steps (services/chat/pipeline/flusher.py); SSE answers: services/chat/threads/streaming.py.

Two transactions on purpose: the customer's message survives a provider outage (503 keeps it), and no
database connection is held for the seconds an LLM takes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.repository import AssistantRepository
from services.chat.attachments.repository import AttachmentRepository
from services.chat.base import Outbox
from services.chat.contacts.repository import ContactRepository
from services.chat.context.builder import ConversationFacts, build_messages, select_history, system_prompt
from services.chat.llm.knowledge import SearchUnavailable, handover_reply
from services.chat.llm.provider import KNOWLEDGE_ONLY
from services.chat.metrics.usage import Usage
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.errors import MessageEmpty, MessageTooLong, ThreadNotFound
from services.chat.threads.events import emit_index, emit_outbound
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import MessageRepository, MessageStore, NewAnswer, StoredAnswer, ThreadRepository
from services.chat.threads.schemas import MessageCreate, ThreadCreate
from services.chat.threads.service import Owner, ThreadService
from services.chat.threads.stores import fast_store, session_store
from services.chat.threads.turns import Answer, Turn, history_of
from services.chat.tools.answering import turn_loop, turn_tools
from shared.db import utcnow
from shared.events.direct import publish_committed
from shared.images import VerifiedImage


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
        self, tenant_id: uuid.UUID, data: ThreadCreate, operator: str | None, owner: Owner | None = None
    ) -> tuple[Thread, Turn | None]:
        message = data.message.strip() if data.message else None
        if data.message is not None and not message:
            raise MessageEmpty("message must not be empty")
        if message:
            self.check_length(message)
        tenant = await self.rt.tenants.get(tenant_id)
        images = await self.rt.intake.prepare(data.attachments)  # fetched and verified before any transaction
        async with self.rt.sessionmaker() as session, session.begin():
            thread = await ThreadService(session).create(tenant_id, data, owner, tenant.sectors)
            turn = None
            if message:
                turn = await self._store_incoming(
                    session, tenant, thread, MessageCreate(content=message), operator, images
                )
        if turn is not None:
            await self.prepare(turn)
        return thread, turn

    async def post(self, tenant_id: uuid.UUID, thread_id: uuid.UUID, data: MessageCreate, operator: str | None) -> Turn:
        self.check_length(data.content)
        tenant = await self.rt.tenants.get(tenant_id)
        images = await self.rt.intake.prepare(data.attachments)  # fetched and verified before any transaction
        async with self.rt.sessionmaker() as session, session.begin():
            thread = await ThreadRepository(session).get(tenant_id, thread_id, lock=True)
            if thread is None:
                raise ThreadNotFound(f"thread {thread_id} not found")
            turn = await self._store_incoming(session, tenant, thread, data, operator, images)
        await self.prepare(turn)
        return turn

    async def _store_incoming(
        self,
        session: AsyncSession,
        tenant: TenantSettings,
        thread: Thread,
        data: MessageCreate,
        operator: str | None,
        images: Sequence[VerifiedImage] = (),
    ) -> Turn:
        agent = data.role == "agent"
        message = await MessageRepository(session).add(
            Message(
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
                attachment_count=len(images),
                created_at=utcnow(),
            )
        )
        if images:
            await AttachmentRepository(session).add(thread.tenant_id, message.id, images)
        thread.last_message_at = message.created_at
        contact = (
            await ContactRepository(session).get(thread.tenant_id, thread.contact_id) if thread.contact_id else None
        )
        if contact is not None:
            contact.last_seen_at = message.created_at if not agent else contact.last_seen_at
        await emit_index(session, thread, message)
        turn = Turn(tenant=tenant, thread=thread, contact=contact, user_message=message, images=list(images))
        if agent:
            thread.needs_human = False
            await emit_outbound(session, thread, contact, message, message.content, tenant.split_replies)
            return turn
        if not thread.ai_enabled or tenant.status == "inactive":
            return turn  # a human has taken over, or a superuser posts in an inactive tenant: never call the LLM
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
        vision = bool(turn.assistant and turn.assistant.vision)
        history = await self.rt.images.render(turn.thread.tenant_id, history, vision=vision)
        turn.messages = build_messages(system, history)
        if turn.mode != KNOWLEDGE_ONLY:
            turn.tools = await turn_tools(self.rt, turn)

    # -- step 3: the answer ---------------------------------------------------------------------------------

    def knowledge_answer(self, turn: Turn) -> Answer:
        if turn.knowledge:
            return Answer(content=turn.knowledge[0].text, model=KNOWLEDGE_ONLY, latency_ms=0)
        text = handover_reply(self.settings.handover_message, turn.tenant.locale, turn.user_message.content)
        return Answer(content=text, model=KNOWLEDGE_ONLY, latency_ms=0, handover=True)

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
        if turn.tools:
            end = await turn_loop(self.rt, turn).complete()
            return Answer(
                content=end.content,
                model=end.model,
                tokens_in=end.tokens_in,
                tokens_out=end.tokens_out,
                latency_ms=int((time.perf_counter() - started) * 1000),
                handover=end.handover,
            )
        completion = await self.rt.llm.complete(turn.config, turn.messages, temperature=assistant_temp)
        return Answer(
            content=completion.content,
            model=completion.model,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    # -- step 4: the answer stored (the API's session; the channel pipeline's one raw statement) -----------------

    async def store_answer(self, turn: Turn, answer: Answer) -> Message:
        async with session_store(self.rt.sessionmaker) as messages:
            stored = await self._stored(turn, messages, answer)
        return stored.message

    async def store_channel_answer(self, turn: Turn, answer: Answer) -> Message:
        """`store_answer` for the channel pipeline's flusher: one autocommit statement, its events published right
        after the commit instead of through the relay (which remains the safety net, shared/events/outbox.py)."""
        async with fast_store(self.rt.sessionmaker) as messages:
            stored = await self._stored(turn, messages, answer)
            await publish_committed(
                self.rt.state.redis, messages.conn, Outbox.__table__.fullname, stored.committed,
                maxlen=self.settings.events_stream_maxlen,
            )  # fmt: skip
        return stored.message

    async def _stored(self, turn: Turn, messages: MessageStore, answer: Answer) -> StoredAnswer:
        tenant_id = turn.thread.tenant_id
        validated = "pending" if turn.tenant.require_approval else "ai"
        stored = await messages.add_answer(
            NewAnswer(
                id=uuid.uuid4(),
                thread=turn.thread,
                contact=turn.contact,
                content=answer.content,
                validated_by=validated,
                model=answer.model,
                tokens_in=answer.tokens_in,
                tokens_out=answer.tokens_out,
                latency_ms=answer.latency_ms,
                incomplete=answer.incomplete,
                handover=answer.handover,
                batch_key=turn.batch_key,
                created_at=utcnow(),
                send_reply=validated == "ai" and not answer.incomplete,
                split_replies=turn.tenant.split_replies,
                usage=(
                    Usage(tenant_id, answer.model, answer.tokens_in, answer.tokens_out)
                    if answer.model != KNOWLEDGE_ONLY
                    else None
                ),
            )
        )
        if stored is None:  # pragma: no cover - threads are never hard-deleted
            raise ThreadNotFound(f"thread {turn.thread.id} not found")
        return stored
