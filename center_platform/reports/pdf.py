"""The printable recording ledger: reportlab with its built-in CID font STSong-Light, so Chinese prints
with nothing embedded or downloaded."""

from __future__ import annotations

import io
from datetime import tzinfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from center_platform.reports.ledger import HEADERS, LedgerLine

FONT = "STSong-Light"
PDF_MAX = 5000  # lines: a printed ledger is a branch's month, not the bank's year
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def ledger_pdf(title: str, subtitle: str, lines: list[LedgerLine], tz: tzinfo) -> bytes:
    font = _font()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=title, leftMargin=24, rightMargin=24)
    styles = getSampleStyleSheet()
    head = styles["Title"].clone("cjk-title", fontName=font)
    body = styles["Normal"].clone("cjk-body", fontName=font, fontSize=9)
    data = [list(HEADERS)] + [line.cells(tz) for line in lines[:PDF_MAX]]
    table = Table(data, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    notes = [Paragraph(title, head), Paragraph(subtitle, body)]
    if len(lines) > PDF_MAX:
        notes.append(Paragraph(f"仅打印前 {PDF_MAX} 行 / only the first {PDF_MAX} lines are printed", body))
    doc.build([*notes, table])
    return out.getvalue()
