"""Content-addressed storage of file bytes under ``ZWC_FILES_DIR``: ``<root>/ab/cd/abcd…`` by SHA-256.

A blob is written once, through a temporary file in its final directory and an atomic rename, so a
reader never sees a partial file; identical content is stored once however often it is uploaded.
Every filesystem call runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

CHUNK_SIZE = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def path_for(root: Path, sha256: str) -> Path:
    if not _SHA256.match(sha256):
        raise ValueError("not a hex SHA-256 digest")
    return root / sha256[0:2] / sha256[2:4] / sha256


def _write(root: Path, sha256: str, source: BinaryIO) -> Path:
    target = path_for(root, sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            source.seek(0)
            shutil.copyfileobj(source, out, CHUNK_SIZE)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target


async def save(root: Path, sha256: str, source: BinaryIO) -> Path:
    """Store the bytes of ``source`` (seekable; its SHA-256 is ``sha256``) unless already stored."""
    return await anyio.to_thread.run_sync(_write, root, sha256, source)


async def locate(root: Path, sha256: str) -> tuple[Path, os.stat_result]:
    """The stored blob's path and its ``stat``; FileNotFoundError when it is missing."""
    path = path_for(root, sha256)
    return path, await anyio.to_thread.run_sync(os.stat, path)

