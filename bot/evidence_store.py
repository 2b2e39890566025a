"""The evidence store: original files kept under a directory, named by their sha256.

Content addressing deduplicates (the same photo sent twice is one file) and makes a write
idempotent. Files are written to a temporary name and renamed, so a crash never leaves a
half-written original under its final name. Object storage is not built; this is the one
implementation. Every method blocks: call it in a thread.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class EvidenceStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
        return self.root / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def get(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def delete(self, digest: str) -> bool:
        """Remove the file; whether there was one."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True
