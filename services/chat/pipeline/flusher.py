"""The flusher: answers each due burst once, then acks it in the buffer.

Runs in every chat worker. Claims are atomic leases (services/chat/buffers/store.py), renewed while
a flush runs, so replicas share the work without answering a burst twice; the answer row carries a
`batch_key` naming its context (the thread and the newest customer message it saw, unique per
tenant), so even a flusher that dies after answering and before acking, or two flushers holding
overlapping bursts, cannot cause a second answer: the next one finds the answer and only acks.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass, field

import structlog
from asyncpg.exceptions import UniqueViolationError

from services.chat.assistants.models import Assistant
from services.chat.buffers.store import BufferStore, Claim
from services.chat.contacts.models import Contact
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.answers import AnswerService
from services.chat.threads.events import is_channel_thread
from services.chat.threads.fast_repository import BurstQuery
from services.chat.threads.models import Message, Thread
from services.chat.threads.stores import fast_store
from services.chat.threads.turns import Turn, history_of
from shared.errors import AppError
from shared.events.chat import OUTBOUND_STREAM, TYPING, TypingHint

log = structlog.get_logger("flusher")
TYPING_CHANNELS = ("telegram", "web")  # channels with a typing indicator


def context_key(thread_id: uuid.UUID, recent: list[Message]) -> str:
    """What an answer is unique by: its thread and the newest customer message its context saw. Two flushers whose
    claims differ (a burst and the same burst plus a later message) still see the same stored history, so they
    would send the customer the same answer twice; with this key the second one cannot be stored. The burst's read
    (services/chat/threads/fast_repository.py, SQL_READ_BURST) computes the same key in SQL."""
    last = next((m for m in recent if m.role == "user"), None)  # `recent` is newest first
    return hashlib.sha256(f"context:{thread_id}:{last.id if last else ''}".encode()).hexdigest()[:64]


@dataclass
class Flusher:
    runtime: ChatRuntime
    store: BufferStore
    concurrency: int = 8
    poll_seconds: float = 0.25
    not_visible_grace: float = 30.0  # a buffered message whose transaction never committed is dropped after this
    transcript_grace: float = 90.0  # how long a burst waits past its due time for voice-note transcripts
    retry_seconds: float = 5.0
    max_attempts: int = 5
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _attempts: dict[str, int] = field(default_factory=dict)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        sem = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task] = set()
        while not stop.is_set():
            try:
                claims = await self.store.claim_due(limit=self.concurrency * 2)
            except Exception as exc:  # noqa: BLE001 - Redis away: wait and try again
                log.warning("flusher_claim_failed", error=str(exc)[:200])
                claims = []
            for claim in claims:
                await sem.acquire()
                task = asyncio.create_task(self._guarded(claim, sem))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if claims:
                continue
            self._wake.clear()
            waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=60)

    async def _guarded(self, claim: Claim, sem: asyncio.Semaphore) -> None:
        keeper = asyncio.create_task(self._keep_lease(claim))
        try:
            await self.flush(claim)
        except Exception as exc:  # noqa: BLE001 - one burst's failure never stops the flusher
            attempts = self._attempts.get(claim.key, 0) + 1
            self._attempts[claim.key] = attempts
            log.warning("flush_failed", key=claim.key, attempts=attempts, error=f"{type(exc).__name__}: {exc}"[:300])
            await self.store.release(claim, retry_in=min(self.retry_seconds * attempts, 60))
        finally:
            keeper.cancel()
            sem.release()

    async def _keep_lease(self, claim: Claim) -> None:
        """Renew the lease while this flush runs: only a dead (or stalled) flusher's burst goes to another one."""
        every = max(0.5, self.store.lease_seconds / 3)
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.store.renew(claim):
                    return
            except Exception as exc:  # noqa: BLE001 - Redis away: the fence before answering decides
                log.info("lease_renew_failed", key=claim.key, error=type(exc).__name__)

    async def flush(self, claim: Claim) -> str:
        """Answer one burst. Returns what happened (for logs and tests)."""
        tenant_id = uuid.UUID(claim.meta["tenant_id"])
        thread_id = uuid.UUID(claim.meta["thread_id"])
        ids = list(dict.fromkeys(str(i["message_id"]) for i in claim.items))
        rt = self.runtime
        tenant = await rt.tenants.get(tenant_id)
        if not tenant.answerable:
            attempts = self._attempts.get(claim.key, 0) + 1
            if tenant.status == "unknown" and attempts < self.max_attempts:
                # Auth cannot say whether the tenant is still active: ask again later, never answer meanwhile.
                self._attempts[claim.key] = attempts
                await self.store.release(claim, retry_in=min(self.retry_seconds * attempts, 60))
                return "tenant_unknown"
            # Deactivated while the burst waited (or unknown for too long): no AI answer, now or later (the inbox
            # shows it).
            await self.store.ack(claim)
            self._attempts.pop(claim.key, None)
            log.info("burst_dropped_tenant_not_active", key=claim.key, tenant_status=tenant.status)
            return "tenant_inactive"
        # Everything the answer needs in one autocommit statement (one snapshot, no BEGIN/ROLLBACK round trips).
        burst = [uuid.UUID(i) for i in ids]
        async with fast_store(rt.sessionmaker) as messages:
            snap = await messages.read_burst(BurstQuery(tenant_id, thread_id, rt.settings.context_max_messages, burst))
        recent = snap.recent
        wanted = set(burst)
        rows = sorted(
            [m for m in recent if m.id in wanted] + snap.extra, key=lambda m: (m.created_at, m.seq)
        )  # the burst; `extra`: older than the context window
        thread, contact, assistant = snap.thread, snap.contact, snap.assistant
        wait = self._not_ready(claim, rows, ids, thread)
        turn = None
        if wait is None:
            turn = self._turn(tenant, thread, contact, assistant, rows, recent, snap.batch_key)
        answered = snap.answered
        if wait == "waiting_commit":
            await self.store.release(claim, retry_in=0.2)  # the inbound transaction has not committed yet
            return wait
        if wait == "waiting_transcript":
            await self.store.release(claim, retry_in=1.0)
            return wait
        if wait is not None or answered:
            # Nothing to say, or answered already: by a flusher that died before acking, or one whose context
            # already held this burst.
            await self.store.ack(claim)
            self._attempts.pop(claim.key, None)
            return wait or "answered_before"
        await self._typing(thread, claim)
        service = AnswerService(rt)
        await service.prepare(turn)
        try:
            # The lease is checked (and renewed) while the LLM answers: the fence before the answer is stored.
            answer, renewed = await asyncio.gather(service.generate(turn), self.store.renew(claim))
            if not renewed:
                return "lease_lost"  # stalled past the lease: the burst is another flusher's now
            await service.store_channel_answer(turn, answer)
        except UniqueViolationError:
            log.info("burst_answered_concurrently", key=claim.key)
        except AppError as exc:
            attempts = self._attempts.get(claim.key, 0) + 1
            self._attempts[claim.key] = attempts
            if attempts < self.max_attempts:
                await self.store.release(claim, retry_in=min(self.retry_seconds * attempts, 60))
                return "retry"
            # The provider stayed down: a human takes it from here, and the customer is told so.
            log.warning("burst_handed_over", key=claim.key, error=exc.code)
            turn.config = None
            await service.store_channel_answer(turn, service.knowledge_answer(turn))
        await self.store.ack(claim)
        self._attempts.pop(claim.key, None)
        log.info("burst_answered", key=claim.key, messages=len(rows))
        return "answered"

    def _not_ready(self, claim: Claim, rows: list[Message], ids: list[str], thread: Thread | None) -> str | None:
        """Why this burst cannot be answered now (None: it can)."""
        age = time.time() - float(claim.meta.get("first_at", time.time()))
        if len(rows) < len(ids) and age < self.not_visible_grace:
            return "waiting_commit"
        due = float(claim.meta.get("due_at", time.time()))
        if any(m.transcript_status == "pending" for m in rows) and time.time() < due + self.transcript_grace:
            return "waiting_transcript"
        if not rows or thread is None or not thread.ai_enabled:
            return "no_answer_needed"
        return None

    def _turn(
        self,
        tenant: TenantSettings,
        thread: Thread,
        contact: Contact | None,
        assistant: Assistant | None,
        rows: list[Message],
        recent: list[Message],
        batch_key: str,
    ) -> Turn:
        # The burst is the question: the knowledge lookup sees all of it.
        question = Message(**{c.key: getattr(rows[-1], c.key) for c in Message.__table__.columns})
        question.content = "\n".join(m.content for m in rows)
        return Turn(
            tenant=tenant,
            thread=thread,
            contact=contact,
            user_message=question,
            assistant=assistant,
            history=history_of(recent),
            needs_answer=True,
            batch_key=batch_key,
        )

    async def _typing(self, thread: Thread, claim: Claim) -> None:
        """Best effort, not through the outbox: a lost typing hint harms no one. Only for channels that show one
        (WhatsApp through Twilio has none: an event there would cost channels a transaction for nothing)."""
        if not is_channel_thread(thread) or thread.channel not in TYPING_CHANNELS:
            return
        recipient = claim.meta.get("recipient", "")
        if not recipient:
            return
        env = TYPING.envelope(
            TypingHint(channel_id=thread.channel_id, thread_id=thread.id, recipient=str(recipient)),
            tenant_id=thread.tenant_id,
            idempotency_key=f"typing:{uuid.uuid4()}",
        )
        try:
            await self.store.redis.xadd(OUTBOUND_STREAM, env.to_fields(), maxlen=100_000, approximate=True)
        except Exception:  # noqa: BLE001, S110
            pass
