"""Recognising an upload's type from its content alone (never its name or the client's Content-Type)."""

from __future__ import annotations

import zipfile
from typing import BinaryIO

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_SIGNATURES = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"%PDF-", PDF),
)
_ZIP = b"PK\x03\x04"
_XLSX_MEMBERS = frozenset({"[Content_Types].xml", "xl/workbook.xml"})


def _is_xlsx(stream: BinaryIO) -> bool:
    """A ZIP that opens and holds a workbook's parts (only the directory is read, nothing inflated)."""
    try:
        with zipfile.ZipFile(stream) as archive:
            return set(archive.namelist()) >= _XLSX_MEMBERS
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return False


def sniff(stream: BinaryIO) -> str | None:
    """The media type of a seekable binary stream, or None when it is none of the accepted ones.

    Blocking (it may read the ZIP directory from disk): call it from a worker thread. The stream is
    left positioned at its start.
    """
    try:
        stream.seek(0)
        head = stream.read(8)
        for signature, media_type in _SIGNATURES:
            if head.startswith(signature):
                return media_type
        if head.startswith(_ZIP):
            stream.seek(0)
            return XLSX if _is_xlsx(stream) else None
        return None
    finally:
        stream.seek(0)
