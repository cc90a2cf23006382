"""What an answer is made of: the turn (the incoming message and its context) and the answer, shared by the API's
answers (services/chat/threads/answers.py) and the channel pipeline's flusher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.chat.assistants.models import Assistant
from services.chat.contacts.models import Contact
from services.chat.context.builder import HistoryMessage
from services.chat.llm.knowledge import KnowledgeHit
from services.chat.llm.provider import KNOWLEDGE_ONLY, LLMConfig
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.models import Message, Thread
from shared.images import VerifiedImage


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
    images: list[VerifiedImage] = field(default_factory=list)  # stored with user_message (the API lists them)
    tools: tuple[Any, ...] = ()  # the assistant's tools (services/chat/tools)
    loop: Any = None  # the SSE path's tool loop, opened with the first stream

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
            images = m.attachment_count or 0
            out.append(HistoryMessage(role=m.role, content=content, attachments=images, message_id=m.id))
    return out
