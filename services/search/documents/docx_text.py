"""DOCX text from word/document.xml parsed as a stream of events (lxml's target parser), never as a tree.

python-docx builds the part's whole tree first, many times the XML's size in memory. Here only the text
of the paragraph or table row being read is held, and the text cap stops the parse as soon as it is passed. The text
is python-docx's `document.paragraphs`, then `document.tables` rows as `cell | cell` (one entry per cell element).
"""

from __future__ import annotations

from typing import IO

from lxml import etree

from services.search.documents.bounds import TextBudget, UnreadableDocument

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BODY, _P, _R, _HYPERLINK, _TBL, _TR, _TC, _T, _BR = (
    _W + n for n in ("body", "p", "r", "hyperlink", "tbl", "tr", "tc", "t", "br")
)
_CHARS = {_W + "tab": "\t", _W + "ptab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
_PIECE = 64 * 1024


class _Collector:
    """lxml parser target: start/end/data events; the stack holds tag names only, never elements."""

    def __init__(self, budget: TextBudget) -> None:
        self.budget = budget
        self.rows: list[str] = []
        self.stack: list[str] = []
        self.para: list[str] | None = None  # the text of the paragraph being read (body level or cell)
        self.para_at = self.run_at = self.row_at = self.cell_at = -1  # stack depths of the open ones
        self.in_t = False
        self.pending = 0  # characters read but not yet charged to the budget
        self.cells: list[str] | None = None
        self.cell: list[str] | None = None

    def start(self, tag: str, attrib) -> None:
        s, depth = self.stack, len(self.stack)
        parent = s[-1] if s else ""
        if tag == _P and (parent == _BODY or (self.cell is not None and depth == self.cell_at + 1)):
            self.para, self.para_at = [], depth
        elif tag == _R and self.para is not None and self._run_parent(depth):
            self.run_at = depth
        elif self.run_at >= 0 and depth == self.run_at + 1:
            if tag == _T:
                self.in_t = True
            elif tag == _BR:
                self._text("\n" if attrib.get(_W + "type", "textWrapping") == "textWrapping" else "")
            else:
                self._text(_CHARS.get(tag, ""))
        elif tag == _TR and parent == _TBL and depth >= 2 and s[-2] == _BODY:
            self.cells, self.row_at = [], depth
        elif tag == _TC and self.cells is not None and depth == self.row_at + 1:
            self.cell, self.cell_at = [], depth
        s.append(tag)

    def _run_parent(self, depth: int) -> bool:
        """A run directly in the paragraph, or in a hyperlink directly in it (as python-docx reads them)."""
        return depth == self.para_at + 1 or (depth == self.para_at + 2 and self.stack[-1] == _HYPERLINK)

    def _text(self, text: str) -> None:
        self.pending += len(text)
        if self.budget.size + self.pending > self.budget.max_chars:
            raise UnreadableDocument(f"the document has more than {self.budget.max_chars} characters of text")
        self.para.append(text)  # type: ignore[union-attr]

    def data(self, text: str) -> None:
        if self.in_t:
            self._text(text)

    def end(self, tag: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if tag == _T:
            self.in_t = False
        elif depth == self.run_at:
            self.run_at = -1
        elif depth == self.para_at and self.para is not None:
            text, self.para, self.para_at = "".join(self.para), None, -1
            if self.cell is not None:
                self.cell.append(text)
            elif text.strip():
                self.pending = 0
                self.budget.add(text)
        elif depth == self.cell_at and self.cell is not None:
            self.cells.append("\n".join(self.cell).strip())  # type: ignore[union-attr]
            self.cell, self.cell_at = None, -1
        elif depth == self.row_at and self.cells is not None:
            row = " | ".join(c for c in self.cells if c)
            self.cells, self.row_at, self.pending = None, -1, 0
            if row:
                self.budget.charge(row)
                self.rows.append(row)

    def close(self) -> str:
        return "\n\n".join([*self.budget.parts, *self.rows])


def docx_text(document_xml: IO[bytes], budget: TextBudget) -> str:
    """Body paragraphs, then table rows; UnreadableDocument past the text cap, etree.XMLSyntaxError on bad XML."""
    parser = etree.XMLParser(target=_Collector(budget), resolve_entities=False, no_network=True, load_dtd=False)
    while piece := document_xml.read(_PIECE):
        parser.feed(piece)
    return parser.close()
