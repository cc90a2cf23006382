"""A thread as a file: JSON, Markdown or PDF (fpdf2, rendered in a worker thread)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.contacts.models import Contact
from services.chat.contacts.repository import ContactRepository
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import ThreadRepository
from services.chat.threads.schemas import MessageRead, ThreadRead
from services.chat.threads.service import ThreadService
from shared.pagination import PageParams

FORMATS = {
    "json": ("application/json", "json"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
    "pdf": ("application/pdf", "pdf"),
}
_ROLE_NAMES = {"user": "Customer", "assistant": "AI", "agent": "Agent", "system": "System"}


@dataclass
class ThreadExport:
    tenant_name: str
    thread: Thread
    contact: Contact | None
    messages: list[Message]


async def load_export(
    session: AsyncSession, tenant_id: uuid.UUID, thread_id: uuid.UUID, tenant_name: str, max_messages: int
) -> ThreadExport:
    thread = await ThreadService(session).get(tenant_id, thread_id)
    contact = await ContactRepository(session).get(tenant_id, thread.contact_id) if thread.contact_id else None
    first = await ThreadRepository(session).messages(tenant_id, thread_id, PageParams(limit=max_messages))
    return ThreadExport(tenant_name, thread, contact, first.rows)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _who(m: Message) -> str:
    name = _ROLE_NAMES.get(m.role, m.role)
    return f"{name} ({m.operator_name})" if m.operator_name and m.role == "agent" else name


def _text(m: Message) -> str:
    return m.corrected_content or m.content


def to_json(e: ThreadExport) -> bytes:
    return orjson.dumps(
        {
            "tenant": e.tenant_name,
            "thread": ThreadRead.model_validate(e.thread).model_dump(mode="json"),
            "contact": {"id": str(e.contact.id), "name": e.contact.name, "channel": e.contact.channel}
            if e.contact
            else None,
            "messages": [MessageRead.model_validate(m).model_dump(mode="json") for m in e.messages],
        },
        option=orjson.OPT_INDENT_2,
    )


def _header(e: ThreadExport) -> list[tuple[str, str]]:
    contact = e.contact.name or e.contact.external_id or str(e.contact.id) if e.contact else "-"
    return [
        ("Tenant", e.tenant_name or str(e.thread.tenant_id)),
        ("Thread", e.thread.title or str(e.thread.id)),
        ("Contact", contact),
        ("Channel", e.thread.channel),
        ("Created", _ts(e.thread.created_at)),
        ("Messages", str(len(e.messages))),
    ]


def to_markdown(e: ThreadExport) -> bytes:
    lines = [f"# {e.thread.title or 'Conversation'}", ""]
    lines += [f"- **{k}:** {v}" for k, v in _header(e)]
    lines.append("")
    for m in e.messages:
        extra = " _(incomplete)_" if m.incomplete else ""
        lines += [f"### {_who(m)} · {_ts(m.created_at)}{extra}", "", _text(m), ""]
    return "\n".join(lines).encode()


def _pdf(e: ThreadExport) -> bytes:
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 10, _latin1(e.thread.title or "Conversation"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for k, v in _header(e):
        pdf.multi_cell(0, 6, _latin1(f"{k}: {v}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for m in e.messages:
        pdf.set_font("Helvetica", "B", 10)
        tail = " (incomplete)" if m.incomplete else ""
        pdf.multi_cell(0, 6, _latin1(f"{_who(m)} - {_ts(m.created_at)}{tail}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 6, _latin1(_text(m)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    """The core PDF fonts are Latin-1; anything else becomes '?' rather than failing the export."""
    return text.encode("latin-1", "replace").decode("latin-1")


async def render(e: ThreadExport, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(e)
    if fmt == "markdown":
        return to_markdown(e)
    return await asyncio.to_thread(_pdf, e)
