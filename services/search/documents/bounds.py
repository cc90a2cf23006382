"""Parsing limits, so a decompression bomb (a small zip or PDF that inflates to gigabytes) fails one document only.

Every cap counts what is really inflated or extracted, never what the file declares: a zip member's declared
size can lie, so members are inflated here in small pieces with a running total before anything parses them.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
import zlib
from contextlib import AbstractContextManager
from dataclasses import dataclass

_PIECE = 1 << 20  # inflate at most this much per read: memory stays bounded whatever the member holds


class UnreadableDocument(Exception):
    """The file cannot be turned into text; the message is shown to the user."""


@dataclass(frozen=True)
class ExtractLimits:
    """SEARCH_DOCUMENT_MAX_*: what one document may inflate to and yield."""

    max_uncompressed_bytes: int = 50_000_000
    max_zip_members: int = 1000
    max_pages: int = 2000
    max_text_chars: int = 10_000_000

    @classmethod
    def from_settings(cls, settings) -> ExtractLimits:
        return cls(
            max_uncompressed_bytes=settings.document_max_uncompressed_bytes,
            max_zip_members=settings.document_max_zip_members,
            max_pages=settings.document_max_pages,
            max_text_chars=settings.document_max_text_chars,
        )


class TextBudget:
    """Extracted text with a running cap: the document fails as soon as it yields more than `max_chars`."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.size = 0

    def charge(self, part: str) -> None:
        self.size += len(part) + 2
        if self.size > self.max_chars:
            raise UnreadableDocument(f"the document has more than {self.max_chars} characters of text")

    def add(self, part: str) -> None:
        self.charge(part)
        self.parts.append(part)

    def text(self) -> str:
        return "\n\n".join(self.parts)


def check_zip(data: bytes, limits: ExtractLimits) -> set[str]:
    """Inflate every member in pieces (output discarded) with a running total; the member names when within limits."""
    cap = limits.max_uncompressed_bytes
    too_big = f"the Word document inflates to more than {cap} bytes (a decompression bomb?)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_zip_members:
                raise UnreadableDocument(
                    f"the Word document has {len(infos)} parts; at most {limits.max_zip_members} are accepted"
                )
            if sum(i.file_size for i in infos) > cap:
                raise UnreadableDocument(too_big)
            total = 0
            for info in infos:
                if info.is_dir():
                    continue
                with zf.open(info) as member:  # zipfile stops at the declared size and checks the CRC there
                    while piece := member.read(_PIECE):
                        total += len(piece)
                        if total > cap:
                            raise UnreadableDocument(too_big)
            return {i.filename for i in infos}
    except UnreadableDocument:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError,
            OSError, ValueError) as exc:  # fmt: skip
        raise UnreadableDocument(f"the Word document is damaged ({type(exc).__name__})") from None


def pdf_limits(limits: ExtractLimits) -> AbstractContextManager:
    """pypdf's own decompression caps (per stream, per filter) lowered to ours, for the current thread only."""
    from pypdf import Configuration, apply_configuration

    names = {f.name for f in dataclasses.fields(Configuration)}
    caps = {n: limits.max_uncompressed_bytes for n in names if n.endswith(("_output_length", "_buffer_size"))}
    caps["maximum_declared_stream_length"] = limits.max_uncompressed_bytes
    if "page_tree_maximum_page_entries" in names:
        caps["page_tree_maximum_page_entries"] = max(limits.max_pages * 2, 1000)
    return apply_configuration(**{k: v for k, v in caps.items() if k in names})
