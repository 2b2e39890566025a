"""Evidence: who may open a case's files, what each reader is sent, and how long files live.

A case's photos and documents arrive as Telegram file ids. The scheduler's ingest job (or
the first opening, if sooner) downloads each original once (through a `Downloader` the
transport gives), checks it (size, and type by its first bytes, never by the name), hashes
it (sha256) and keeps it in the evidence store (bot/evidence_store.py), one file per
content. Staff are sent the originals; the
case's supervisor is sent images without location and camera metadata (a cleaned copy
uploaded once, whose file id is then remembered); the parent sees only their own files.
A scheduled run deletes the files of cases closed longer than the retention period and
writes an audit event saying so; nothing of an open case is touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import Actor, Case, DomainError, PermissionDenied, Role
from bot.evidence_store import EvidenceStore
from bot.ports import Clock, EvidenceItem, UnitOfWorkFactory
from bot.services import actor_for

log = logging.getLogger(__name__)

Downloader = Callable[[str], Awaitable[bytes]]  # Telegram file id -> the file's bytes
PURGE_BATCH = 100
INGEST_BATCH = 20  # files fetched per run of the ingest job

# Types accepted as evidence, told by their first bytes: (magic, offset, MIME type).
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),  # DOCX, XLSX, PPTX (Office Open XML)
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "application/x-ole-storage"),  # DOC, XLS
    (b"ftypheic", 4, "image/heic"),
    (b"ftypmif1", 4, "image/heic"),
)
CLEANABLE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
CONTAINERS = frozenset({"application/zip", "application/x-ole-storage"})


def sniff_type(data: bytes) -> str | None:
    """The MIME type the file's first bytes show, or None for a type not accepted."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, mime in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return mime
    return None


def strip_metadata(data: bytes) -> bytes:
    """The image redrawn from its pixels alone: no EXIF (location, camera), XMP, comments
    or other metadata survive. Turned upright first as its EXIF said. Blocking."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        upright = ImageOps.exif_transpose(opened)
        keeps_alpha = upright.mode in ("RGBA", "LA", "P") and opened.format != "JPEG"
        pixels = upright.convert("RGBA" if keeps_alpha else "RGB")
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if keeps_alpha:
        clean.save(out, format="PNG")
    else:
        clean.save(out, format="JPEG", quality=90)
    return out.getvalue()


@dataclass(frozen=True)
class Outgoing:
    """One file to send a reader: by Telegram file id, or these bytes uploaded (a cleaned
    copy whose new file id the transport hands back through `remember_clean`)."""

    evidence_id: int
    kind: str  # photo | document
    file_id: str | None
    data: bytes | None
    file_name: str

    @property
    def cleaned_upload(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class EvidenceView:
    reference: str
    role: Role
    files: list[Outgoing]
    unreadable: int  # files that could not be fetched or failed the checks


@dataclass(frozen=True)
class PurgeRun:
    cases: int = 0
    files: int = 0  # evidence rows purged
    deleted: int = 0  # stored files removed from disk


class EvidenceService:
    """Opening a case's evidence (permission checked here) and the retention run."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, store: EvidenceStore, *,
                 max_bytes: int, retention_days: int) -> None:
        self.uow = uow
        self.clock = clock
        self.store = store
        self.max_bytes = max_bytes
        self.retention = timedelta(days=retention_days)
        # Set by the transport once it exists (Telegram's bot): the ingest job's downloader.
        self.downloader: Downloader | None = None
        self._failed: set[int] = set()  # not retried by this process's ingest job

    async def open(self, user_id: int, reference: str, download: Downloader) -> EvidenceView:
        """The files of a case this user may see, prepared for their role.

        Staff: every file, as sent. The case's supervisor: every file, images cleaned of
        metadata. The parent who filed it: their own files. Anyone else: refused.
        """
        async with self.uow.read() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            case = await uow.cases.get(reference.strip().upper())
            if case is None:
                raise DomainError("case.error.not_found", reference=reference[:40])
            visible = _visible_to(actor, case, await uow.cases.evidence(case))
        files: list[Outgoing] = []
        unreadable = 0
        for item in visible:
            try:
                files.append(await self._prepare(actor, item, download))
            except EvidenceUnreadable as exc:
                log.warning("evidence %s of %s not sent: %s", item.id, case.reference, exc)
                unreadable += 1
        return EvidenceView(case.reference, actor.role, files, unreadable)

    async def visible_count(self, user_id: int, reference: str) -> int:
        """How many of the case's files this user may open (0 where they may see none)."""
        async with self.uow.read() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            case = await uow.cases.get(reference.strip().upper())
            if case is None:
                return 0
            try:
                return len(_visible_to(actor, case, await uow.cases.evidence(case)))
            except DomainError:
                return 0

    async def remember_clean(self, evidence_id: int, file_id: str) -> None:
        """Keep the file id Telegram gave the cleaned copy: later views send it by id."""
        async with self.uow() as uow:
            await uow.cases.evidence_clean_copy(evidence_id, file_id)
            await uow.commit()

    async def _prepare(self, actor: Actor, item: EvidenceItem,
                       download: Downloader) -> Outgoing:
        data: bytes | None = None
        mime = item.mime_type
        if item.sha256 is None:  # first opening: keep the original
            data = await self._fetch(item, download)
            mime = sniff_type(data) or ""
            await self._keep(item, data, mime)
        if actor.role is Role.SUPERVISOR and mime.startswith("image/") \
                and not _cleanable(item, mime):
            raise EvidenceUnreadable(f"cannot clean {mime} for a supervisor")
        if actor.role is not Role.SUPERVISOR or not _cleanable(item, mime):
            return Outgoing(item.id, item.kind, item.file_id, None, item.file_name)
        if item.clean_file_id:
            return Outgoing(item.id, item.kind, item.clean_file_id, None, item.file_name)
        if data is None:
            assert item.sha256 is not None
            data = await asyncio.to_thread(self.store.get, item.sha256)
            if data is None:  # the stored original went missing: fetch it again
                data = await self._fetch(item, download)
                await self._keep(item, data, sniff_type(data) or "")
        try:
            clean = await asyncio.to_thread(strip_metadata, data)
        except Exception as exc:  # Pillow cannot read it: never send it uncleaned
            raise EvidenceUnreadable(f"cannot clean image: {exc}") from exc
        return Outgoing(item.id, item.kind, None, clean, item.file_name or "photo.jpg")

    async def _fetch(self, item: EvidenceItem, download: Downloader) -> bytes:
        if not item.file_id:
            raise EvidenceUnreadable("no file id")
        if item.size and item.size > self.max_bytes:
            raise EvidenceUnreadable(f"declared size {item.size} over the limit")
        try:
            data = await download(item.file_id)
        except Exception as exc:
            raise EvidenceUnreadable(f"download failed: {exc}") from exc
        if len(data) > self.max_bytes:
            raise EvidenceUnreadable(f"size {len(data)} over the limit")
        if sniff_type(data) is None:
            raise EvidenceUnreadable("not an accepted file type")
        return data

    async def _keep(self, item: EvidenceItem, data: bytes, mime: str) -> None:
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self.store.put, digest, data)
        if mime in CONTAINERS and item.mime_type:
            mime = item.mime_type  # a zip or OLE file: the declared Office type says more
        async with self.uow() as uow:
            await uow.cases.evidence_stored(item.id, sha256=digest, size=len(data),
                                            mime_type=mime or item.mime_type)
            await uow.commit()

    async def ingest_pending(self, limit: int = INGEST_BATCH) -> int:
        """Keep the originals of files nobody has opened yet (the scheduler's job): each is
        downloaded, checked, hashed and stored, so retention has them and staff get them even
        if Telegram later forgets the file. Returns how many were kept."""
        if self.downloader is None:
            return 0
        async with self.uow.read() as uow:
            pending = [item for item in await uow.cases.unstored_evidence(limit + len(
                self._failed)) if item.id not in self._failed][:limit]
        kept = 0
        for item in pending:
            try:
                data = await self._fetch(item, self.downloader)
            except EvidenceUnreadable as exc:
                log.warning("evidence %s not kept: %s", item.id, exc)
                self._failed.add(item.id)
                continue
            await self._keep(item, data, sniff_type(data) or "")
            kept += 1
        return kept

    async def purge_expired(self) -> PurgeRun:
        """Delete the files of cases closed longer than the retention period; audit each."""
        now = self.clock.now()
        cutoff = now - self.retention
        cases = files = deleted = 0
        while True:
            async with self.uow.read() as uow:
                expired = await uow.cases.expired_evidence(cutoff, PURGE_BATCH)
            if not expired:
                break
            progressed = False
            for found in expired:
                purged = await self._purge_case(found.reference, cutoff, now)
                if purged is None:
                    continue
                progressed = True
                cases += 1
                files += len(purged)
                deleted += await self._delete_unused({i.sha256 for i in purged if i.sha256})
            if not progressed:
                break
        return PurgeRun(cases, files, deleted)

    async def _purge_case(self, reference: str, cutoff: datetime,
                          now: datetime) -> list[EvidenceItem] | None:
        async with self.uow() as uow:
            case = await uow.cases.get_for_update(reference)
            # Re-checked under the lock: a case reopened meanwhile keeps everything.
            if case is None or case.is_open or case.closed_at is None \
                    or case.closed_at >= cutoff:
                return None
            purged = await uow.cases.purge_evidence(case, now)
            if not purged:
                return None
            case.record("evidence_purged", Actor.system(), now, files=len(purged),
                        retention_days=self.retention.days)
            await uow.cases.save(case)
            await uow.commit()
        return purged

    async def _delete_unused(self, digests: set[str]) -> int:
        """Remove stored originals no remaining evidence refers to (dedup shares them)."""
        unused = []
        async with self.uow.read() as uow:
            for digest in sorted(digests):
                if not await uow.cases.evidence_hash_in_use(digest):
                    unused.append(digest)
        removed = 0
        for digest in unused:
            removed += await asyncio.to_thread(self.store.delete, digest)
        return removed


class EvidenceUnreadable(Exception):
    """A file that cannot be fetched, is too big, or is of a type not accepted."""


def _cleanable(item: EvidenceItem, mime: str) -> bool:
    return item.kind == "photo" or mime in CLEANABLE


def parent_added(case: Case, item: EvidenceItem) -> bool:
    """Whether the case's parent attached this file (at filing, or later as information)."""
    return item.added_by in ("parent", str(case.reporter_user_id))


def _visible_to(actor: Actor, case: Case, items: list[EvidenceItem]) -> list[EvidenceItem]:
    if actor.role is Role.STAFF:
        return items
    if actor.role is Role.SUPERVISOR:
        if actor.person_code != case.assignee_code:
            raise PermissionDenied("case.error.not_assignee")
        return items
    case.require_reporter(actor)
    return [item for item in items if parent_added(case, item)]
