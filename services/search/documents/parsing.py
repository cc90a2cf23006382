"""File type from the bytes, text extraction (pdf, docx, txt, md) within limits, and overlapping chunks."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from services.search.documents.bounds import ExtractLimits, TextBudget, UnreadableDocument, check_zip, pdf_limits
from services.search.documents.docx_text import docx_text

KINDS = ("pdf", "docx", "txt", "md")
_MD_HINT = re.compile(r"^(#{1,6} |[-*] |\d+\. |> |```)", re.MULTILINE)
__all__ = ["KINDS", "ExtractLimits", "UnreadableDocument", "chunk_text", "extract_text", "sniff_kind"]


def sniff_kind(head: bytes, filename: str | None) -> str | None:
    """The document kind from its first bytes (the name only tells txt from md); None if unsupported."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"  # confirmed when parsed: a zip without word/document.xml fails readably
    if _looks_like_text(head):
        name = (filename or "").lower()
        if name.endswith((".md", ".markdown")) or _MD_HINT.search(_decode(head)):
            return "md"
        return "txt"
    return None


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="ignore")


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte char at the end is fine
            return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls <= len(head) // 100


def extract_text(data: bytes, kind: str, limits: ExtractLimits | None = None) -> str:
    """Plain text of a document; raises UnreadableDocument with a readable reason. Blocking: run in a thread."""
    limits = limits or ExtractLimits()
    if kind == "pdf":
        return _pdf_text(data, limits)
    if kind == "docx":
        return _docx_text(data, limits)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument("the text file is not valid UTF-8") from None
    TextBudget(limits.max_text_chars).add(text)
    return text


def _pdf_text(data: bytes, limits: ExtractLimits) -> str:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    budget = TextBudget(limits.max_text_chars)
    inflated = 0
    try:
        with pdf_limits(limits):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableDocument("the PDF is encrypted (password protected); upload an unprotected copy")
            if len(reader.pages) > limits.max_pages:
                raise UnreadableDocument(
                    f"the PDF has {len(reader.pages)} pages; at most {limits.max_pages} are accepted"
                )
            for page in reader.pages:
                contents = page.get_contents()  # decoded once and cached: count what each page inflates to
                inflated += len(contents.get_data()) if contents is not None else 0
                if inflated > limits.max_uncompressed_bytes:
                    raise UnreadableDocument(
                        f"the PDF inflates to more than {limits.max_uncompressed_bytes} bytes (a decompression bomb?)"
                    )
                text = (page.extract_text() or "").strip()
                if text:
                    budget.add(text)
    except UnreadableDocument:
        raise
    except LimitReachedError as exc:
        raise UnreadableDocument(f"the PDF goes past a processing limit (a decompression bomb?): {exc}") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as exc:
        raise UnreadableDocument(f"the PDF is damaged or not a PDF ({type(exc).__name__})") from None
    text = budget.text()
    if not text.strip():
        raise UnreadableDocument("the PDF has no extractable text (scanned images are not supported)")
    return text


def _docx_text(data: bytes, limits: ExtractLimits) -> str:
    from lxml import etree

    names = check_zip(data, limits)  # every member inflated once, capped, before the XML is parsed
    if "EncryptedPackage" in names:
        raise UnreadableDocument("the Word document is encrypted; upload an unprotected copy")
    if "word/document.xml" not in names:
        raise UnreadableDocument("the file is a zip archive, not a Word (.docx) document")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open("word/document.xml") as xml:
            text = docx_text(xml, TextBudget(limits.max_text_chars))
    except UnreadableDocument:
        raise
    except (etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise UnreadableDocument(f"the Word document is damaged ({type(exc).__name__})") from None
    if not text.strip():
        raise UnreadableDocument("the Word document has no text")
    return text


_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"'(\[]?[A-ZÀ-ÖØ-Þ0-9])")


def _units(text: str, max_chars: int) -> list[str]:
    """Paragraphs, split into sentences (then words) when longer than a chunk."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        para = re.sub(r"[ \t]+", " ", para).strip()
        if not para:
            continue
        if len(para) <= max_chars:
            out.append(para)
            continue
        for sentence in _SENTENCE.split(para):
            while len(sentence) > max_chars:
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                out.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                out.append(sentence)
    return out


def chunk_text(text: str, max_chars: int = 1000, overlap_chars: int = 200) -> list[str]:
    """Chunks of at most ~max_chars on paragraph/sentence boundaries; each starts with the last
    sentences (up to overlap_chars) of the previous one, so a passage cut in two is found whole."""
    units = _units(text, max_chars)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        if current and size + len(unit) + 1 > max_chars:
            chunks.append("\n".join(current))
            tail: list[str] = []
            tail_size = 0
            for prev in reversed(current):
                if tail_size + len(prev) > overlap_chars:
                    break
                tail.insert(0, prev)
                tail_size += len(prev) + 1
            if tail_size + len(unit) + 1 > max_chars:
                tail, tail_size = [], 0
            current, size = tail, tail_size
        current.append(unit)
        size += len(unit) + 1
    if current:
        last = "\n".join(current)
        if not chunks or last != chunks[-1]:
            chunks.append(last)
    return chunks
