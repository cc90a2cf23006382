"""Knowledge documents: PDF and DOCX made here become searchable, deletion removes them; bad files fail readably."""

from __future__ import annotations

import io
import uuid

import docx
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from tests.search.conftest import drain

REFUND = (
    "Refund policy. Customers can return any product within thirty days of delivery. "
    "The refund is paid back to the original card within five business days after we receive the item."
)
FILLER = [
    f"Section {i}. Our stores sell garden furniture, lamps and kitchen tools in many colours and sizes."
    for i in range(12)
]


def make_pdf(paragraphs: list[str]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for p in paragraphs:
        pdf.multi_cell(0, 6, p)
        pdf.ln(4)
    return bytes(pdf.output())


def make_docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def encrypt_pdf(data: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt("secret-password")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


async def upload(search_client, headers, name: str, data: bytes, ctype: str = "application/octet-stream"):
    return await search_client.post("/api/v1/documents", files={"file": (name, data, ctype)}, headers=headers)


async def test_pdf_and_docx_become_searchable_and_deletion_removes_them(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    h = auth(tenant)
    pdf = await upload(search_client, h, "policy.pdf", make_pdf([*FILLER[:6], REFUND, *FILLER[6:]]))
    assert pdf.status_code == 202, pdf.text
    assert pdf.json()["status"] == "processing" and pdf.json()["progress"] == 0
    word = await upload(
        search_client, h, "hours.docx", make_docx(["Opening hours: Monday to Friday from 9 to 18.", *FILLER])
    )
    assert word.status_code == 202, word.text
    assert word.json()["kind"] == "docx"

    # one worker step: parsed + chunked, first batch embedded; progress shows
    from sqlalchemy import select

    from services.search.base import Outbox
    from shared.events.relay import envelope_of

    first = (await session.execute(select(Outbox).order_by(Outbox.created_at).limit(1))).scalar_one()
    await handler(envelope_of(first), session)
    first.published_at = first.created_at
    await session.flush()
    mid = (await search_client.get(f"/api/v1/documents/{pdf.json()['id']}", headers=h)).json()
    assert mid["status"] == "processing" and mid["chunks"] > 4
    assert isinstance(mid["progress"], int) and 10 <= mid["progress"] < 100  # percent, like transcriptions

    assert await drain(session, handler) >= 3  # the rest, step by step
    for doc in (pdf.json(), word.json()):
        got = (await search_client.get(f"/api/v1/documents/{doc['id']}", headers=h)).json()
        assert got["status"] == "ready" and got["progress"] == 100 and got["embedded"] == got["chunks"], got

    r = await search_client.post(
        "/api/v1/search",
        json={"query": "how long until I get my money back?", "sources": ["documents"], "mode": "hybrid", "limit": 3},
        headers=h,
    )
    best = r.json()["results"][0]
    assert best["source"] == "documents" and best["document_id"] == pdf.json()["id"]
    assert "five business days" in best["text"]
    r = await search_client.post(
        "/api/v1/search", json={"query": "when are you open on monday", "mode": "semantic"}, headers=h
    )
    assert r.json()["results"][0]["document_id"] == word.json()["id"]

    listed = (await search_client.get("/api/v1/documents?limit=1", headers=h)).json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = (await search_client.get(f"/api/v1/documents?cursor={listed['next_cursor']}", headers=h)).json()
    assert {listed["items"][0]["id"], rest["items"][0]["id"]} == {pdf.json()["id"], word.json()["id"]}

    # another tenant sees none of it
    other = auth(uuid.uuid4())
    assert (await search_client.get(f"/api/v1/documents/{pdf.json()['id']}", headers=other)).status_code == 404
    assert (await search_client.delete(f"/api/v1/documents/{pdf.json()['id']}", headers=other)).status_code == 404
    assert (await search_client.get("/api/v1/documents", headers=other)).json()["items"] == []

    assert (await search_client.delete(f"/api/v1/documents/{pdf.json()['id']}", headers=h)).status_code == 204
    assert (await search_client.get(f"/api/v1/documents/{pdf.json()['id']}", headers=h)).status_code == 404
    for mode in ("semantic", "keyword", "hybrid"):
        r = await search_client.post(
            "/api/v1/search", json={"query": "refund money back card", "mode": mode}, headers=h
        )
        assert all(x["document_id"] != pdf.json()["id"] for x in r.json()["results"]), mode


async def test_bad_files_fail_readably(search_client, session, handler, auth):
    tenant = uuid.uuid4()
    h = auth(tenant)
    locked = await upload(search_client, h, "locked.pdf", encrypt_pdf(make_pdf([REFUND])))
    broken = await upload(search_client, h, "broken.pdf", b"%PDF-1.7\n" + b"\x13garbage" * 200)
    notword = await upload(search_client, h, "fake.docx", _zip({"hello.txt": b"hi"}))
    for r in (locked, broken, notword):
        assert r.status_code == 202, r.text
    await drain(session, handler)
    errors = {}
    for r in (locked, broken, notword):
        doc = (await search_client.get(f"/api/v1/documents/{r.json()['id']}", headers=h)).json()
        assert doc["status"] == "failed", doc
        errors[doc["filename"]] = doc["error"]
    assert "encrypted" in errors["locked.pdf"]
    assert "damaged" in errors["broken.pdf"] or "no extractable text" in errors["broken.pdf"]
    assert "not a Word" in errors["fake.docx"]


async def test_type_from_bytes_and_size_limit(search_client, auth, search_settings):
    h = auth(uuid.uuid4())
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    r = await upload(search_client, h, "notes.txt", png, "text/plain")  # lying name and header
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")
    md = await upload(search_client, h, "faq.md", b"# FAQ\n\n- shipping is free over 50 euros\n", "image/png")
    assert md.status_code == 202 and md.json()["kind"] == "md"
    txt = await upload(search_client, h, "notes", "Olá, o boleto vence amanhã.".encode())
    assert txt.status_code == 202 and txt.json()["kind"] == "txt"
    empty = await upload(search_client, h, "empty.txt", b"")
    assert empty.status_code == 422
    big = b"a" * (search_settings.max_document_bytes + 10)
    r = await upload(search_client, h, "big.txt", big)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    r = await search_client.post(
        "/api/v1/documents", files={"file": ("a.txt", b"hello")}, headers=auth(uuid.uuid4(), role=None, scopes=["read"])
    )
    assert r.status_code == 403


def _zip(files: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
