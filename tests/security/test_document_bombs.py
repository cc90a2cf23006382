"""Decompression bombs fail one document, nothing else.

A tenant uploads small files that inflate to far more than they weigh: a DOCX whose word/document.xml deflates
~1000:1, the same with a zip header that lies about the member's size, one under the byte cap with too much text,
a PDF whose page stream inflates past the cap, a PDF with too many pages and a text file with too much text. Each
must end `failed` with a reason, the search worker (in this process) must not inflate past its cap (its peak RSS
stays bounded), and ordinary documents of the same and of another tenant still become `ready`. The worker's caps
are lowered here so the bombs stay small; the defaults are in services/search/config.py.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from fpdf import FPDF
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.search.test_documents import make_docx
from tests.support.platform import Tenant, platform
from tests.support.plugin import wait_for

CAP = 8_000_000  # SEARCH_DOCUMENT_MAX_UNCOMPRESSED_BYTES for this test's worker
BOMB = 32 * 1024 * 1024  # what the bomb's word/document.xml inflates to
MAX_PAGES = 50
MAX_CHARS = 200_000
DOC_XML = "word/document.xml"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bomb(inflated: int) -> bytes:
    """A real DOCX whose document.xml is `inflated` bytes of short paragraphs, streamed into the zip (~1000:1)."""
    base = zipfile.ZipFile(io.BytesIO(make_docx(["x"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in base.infolist():
            if info.filename != DOC_XML:
                zf.writestr(info, base.read(info))
        with zf.open(DOC_XML, "w") as member:
            member.write(f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body>'.encode())
            block = b"<w:p><w:r><w:t>pizza margherita</w:t></w:r></w:p>" * 20_000  # ~1 MiB
            for _ in range(inflated // len(block)):
                member.write(block)
            member.write(b"</w:body></w:document>")
    return out.getvalue()


def lying_header(data: bytes, declared: int = 1000) -> bytes:
    """The same zip, with document.xml's uncompressed size declared as `declared` in both of its headers."""
    buf = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(DOC_XML)
    struct.pack_into("<I", buf, info.header_offset + 22, declared)  # local file header
    central = buf.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", buf, central + 28)[0]
        if bytes(buf[central + 46 : central + 46 + name_len]) == DOC_XML.encode():
            struct.pack_into("<I", buf, central + 24, declared)  # central directory entry
        central = buf.find(b"PK\x01\x02", central + 4)
    assert zipfile.ZipFile(io.BytesIO(bytes(buf))).getinfo(DOC_XML).file_size == declared
    return bytes(buf)


def many_pages(pages: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for i in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {i}: our pizza oven closes at ten.")
    return bytes(pdf.output())


def pdf_stream_bomb(inflated: int) -> bytes:
    """One page whose FlateDecode content stream (a line of text, then a long comment) inflates to `inflated`."""
    w = PdfWriter()
    page = w.add_blank_page(612, 792)
    font = DictionaryObject(
        {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
         NameObject("/BaseFont"): NameObject("/Helvetica")}
    )  # fmt: skip
    fonts = DictionaryObject({NameObject("/F1"): w._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 12 Tf 72 700 Td (pizza) Tj ET\n% " + b"x" * inflated + b"\n")
    page[NameObject("/Contents")] = w._add_object(content.flate_encode())
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _rss_peak_reset() -> int:
    """Reset this process's peak RSS (Linux clear_refs 5) and return the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


async def _upload(p, t: Tenant, name: str, data: bytes) -> str:
    r = await p.gw.post(
        "/api/v1/documents", headers=t.headers, files={"file": (name, data, "application/octet-stream")}
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def _settled(p, t: Tenant, doc_id: str, timeout: float = 60) -> dict:
    async def done():
        d = (await p.gw.get(f"/api/v1/documents/{doc_id}", headers=t.headers)).json()
        return d if d["status"] != "processing" else None

    return await wait_for(done, timeout=timeout, interval=0.2)


async def test_bombs_fail_alone_and_the_worker_keeps_indexing(stack, committed_db, redis, tmp_path):
    bomb = docx_bomb(BOMB)
    assert len(bomb) < BOMB // 200  # a real bomb: a few hundred KB that inflate to 32 MiB
    async with platform(stack, tmp_path) as p:
        p.start_worker(
            "search",
            document_max_uncompressed_bytes=CAP,
            document_max_pages=MAX_PAGES,
            document_max_text_chars=MAX_CHARS,
        )
        a, b = await p.tenant("A"), await p.tenant("B")
        warm = await _upload(p, a, "warm.docx", make_docx(["Warm-up: the embedding model loads here."]))
        assert (await _settled(p, a, warm))["status"] == "ready"

        liar, wordy, flate = lying_header(bomb), docx_bomb(CAP * 3 // 4), pdf_stream_bomb(BOMB)  # built before
        base_rss = _rss_peak_reset()  # the peak from here on is the worker's (and the platform's) doing
        bomb_id = await _upload(p, a, "bomb.docx", bomb)
        doc = await _settled(p, a, bomb_id)
        assert doc["status"] == "failed", doc
        assert "inflates to more than" in doc["error"], doc
        liar_id = await _upload(p, a, "liar.docx", liar)  # declares 1000 bytes, holds 32 MiB
        doc = await _settled(p, a, liar_id)
        assert doc["status"] == "failed" and doc["error"], doc
        wordy_id = await _upload(p, a, "wordy.docx", wordy)  # under the byte cap, over the text cap
        doc = await _settled(p, a, wordy_id)
        assert doc["status"] == "failed", doc
        assert f"more than {MAX_CHARS} characters" in doc["error"], doc
        flate_id = await _upload(p, a, "flate.pdf", flate)
        doc = await _settled(p, a, flate_id)
        assert doc["status"] == "failed", doc
        assert "decompression bomb" in doc["error"], doc
        grew = _status("VmHWM") - base_rss
        assert grew < 3 * CAP, f"the worker's peak RSS grew {grew} bytes for bombs capped at {CAP}"

        pages_id = await _upload(p, a, "long.pdf", many_pages(MAX_PAGES + 10))
        doc = await _settled(p, a, pages_id)
        assert doc["status"] == "failed", doc
        assert f"at most {MAX_PAGES}" in doc["error"], doc

        text_id = await _upload(p, a, "long.txt", ("pizza margherita. " * (MAX_CHARS // 10)).encode())
        doc = await _settled(p, a, text_id)
        assert doc["status"] == "failed", doc
        assert f"more than {MAX_CHARS} characters" in doc["error"], doc

        # the worker is healthy: the same tenant's and another tenant's ordinary documents index
        ok_a = await _upload(p, a, "hours.docx", make_docx(["Opening hours: Monday to Friday from 9 to 18."]))
        ok_b = await _upload(p, b, "menu.pdf", many_pages(3))
        assert (await _settled(p, a, ok_a))["status"] == "ready"
        assert (await _settled(p, b, ok_b))["status"] == "ready"
