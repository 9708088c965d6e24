"""Small but real invoice files: a one-page PDF and a PNG, built byte by byte.

Receivers may hand the file to a PDF reader or an image library, so the
sandbox sends well-formed files (a correct PDF cross-reference table, PNG
chunks with their CRCs), different for every invoice::

    pdf_document(["Invoice FREE-0001", "Total $93.50"])[:5] == b"%PDF-"
    png_document(seed=3)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["PDF", "PNG", "MIMETYPES", "pdf_document", "png_document", "document"]

PDF = "application/pdf"
PNG = "image/png"
MIMETYPES = (PDF, PNG)

_PNG_SIZE_PX = 16


def _pdf_text(text: str) -> str:
    # Helvetica covers Latin-1 only; parentheses and backslashes must be escaped.
    safe = text.encode("latin-1", errors="replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_document(lines: Sequence[str]) -> bytes:
    """A one-page A4 PDF showing ``lines`` of text."""
    content = "BT /F1 14 Tf 72 770 Td 18 TL " + " ".join(f"({_pdf_text(line)}) '" for line in lines)
    stream = content.encode("latin-1") + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_document(seed: int) -> bytes:
    """A 16 by 16 RGB PNG whose colours depend on ``seed`` (so every file differs)."""
    rows = bytearray()
    for y in range(_PNG_SIZE_PX):
        rows.append(0)  # filter type "None" for this scanline
        for x in range(_PNG_SIZE_PX):
            rows += bytes(((seed * 37 + x * 16) % 256, (seed * 91 + y * 16) % 256, 160))
    header = struct.pack(">IIBBBBB", _PNG_SIZE_PX, _PNG_SIZE_PX, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows)))
        + _png_chunk(b"IEND", b"")
    )


def document(mimetype: str, lines: Sequence[str], seed: int) -> bytes:
    """The file for one invoice, in ``mimetype`` (PDF or PNG)."""
    if mimetype == PDF:
        return pdf_document(lines)
    if mimetype == PNG:
        return png_document(seed)
    raise ValueError(f"mimetype must be one of {', '.join(MIMETYPES)}, got {mimetype!r}")
