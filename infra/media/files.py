"""file:// media: read regular files only, within a size and time limit, and list folders in the
order S3 lists keys, following symlinks that stay inside the file root."""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.uris import MediaRef, file_uri_below

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# O_NONBLOCK: opening a named pipe returns at once instead of waiting for a writer.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_error(ref: MediaRef, exc: OSError) -> ItemError:
    if exc.errno in {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}:
        return ItemError(ItemErrorCode.NOT_FOUND, f"file not found: {ref.uri}")
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return ItemError(ItemErrorCode.ACCESS_DENIED, f"access denied: {ref.uri}")
    if exc.errno in {errno.ENXIO, errno.ENODEV}:  # a socket, or a device without a driver
        return ItemError(ItemErrorCode.NOT_A_FILE, f"not a regular file: {ref.uri}")
    return ItemError(ItemErrorCode.FETCH_FAILED, f"cannot read {ref.uri}: {exc.strerror}")


def read_file(ref: MediaRef, limit: int, timeout_s: float) -> bytes:
    """A regular file's bytes; ItemError not_found, access_denied, not_a_file, too_large, or
    fetch_failed (an I/O error, or reading took longer than `timeout_s`)."""
    try:
        fd = os.open(ref.path, _OPEN_FLAGS)
    except OSError as exc:
        raise _open_error(ref, exc) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ItemError(ItemErrorCode.NOT_A_FILE, f"not a regular file: {ref.uri}")
        if info.st_size > limit:
            raise ItemError(ItemErrorCode.TOO_LARGE, f"{info.st_size} bytes exceeds {limit}")
        return _read_within(fd, ref, limit, time.monotonic() + timeout_s)
    except OSError as exc:
        raise _open_error(ref, exc) from exc
    finally:
        os.close(fd)


def _read_within(fd: int, ref: MediaRef, limit: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, min(_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:  # the file grew after it was opened
            raise ItemError(ItemErrorCode.TOO_LARGE, f"file exceeds {limit} bytes")
        if time.monotonic() > deadline:
            raise ItemError(ItemErrorCode.FETCH_FAILED, f"reading timed out: {ref.uri}")
    return b"".join(chunks)


@dataclass(frozen=True)
class _Entry:
    """A listed name: `path` where it leads (a link's target, resolved), `folder` whether it is
    one; its key ends in `/` when it is, so `a b.jpg` < `a/…` < `a0.jpg` as S3 orders keys."""

    name: str
    path: str
    folder: bool

    @property
    def key(self) -> bytes:
        return os.fsencode(self.name + ("/" if self.folder else ""))


def list_files(
    prefix: MediaRef, keep: Callable[[str], bool], may_read: Callable[[Path], bool]
) -> Iterator[str]:
    """References of the regular files under a folder whose names `keep` accepts, in key order
    (by the bytes of the path below the folder, as S3 lists keys), spelt below the folder's
    reference as given (see `walk_files`)."""
    for key, _ in walk_files(prefix, keep, may_read):
        yield file_uri_below(prefix.uri, key)


def walk_files(
    prefix: MediaRef,
    keep: Callable[[str], bool],
    may_read: Callable[[Path], bool],
    start_after: str | None = None,
) -> Iterator[tuple[str, str]]:
    """(key, path) of the regular files under a folder whose names `keep` accepts, in key order
    (by the bytes of the path below the folder, as S3 lists keys), after key `start_after` when
    given (folders wholly before it are not read). A symlink is followed where it leads out of
    the folder to a path `may_read` accepts; one into the folder is not (its target is listed
    under its own name), and a folder reached twice is listed once."""
    top = Path(prefix.path)
    after = os.fsencode(start_after) if start_after is not None else None

    def follow(target: Path) -> bool:
        return not target.is_relative_to(top) and may_read(target)

    try:
        first = _entries(prefix.path, keep, follow)
        seen = {_identity(prefix.path)}
    except OSError as exc:
        if exc.errno in {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}:
            raise ItemError(ItemErrorCode.NOT_FOUND, f"folder not found: {prefix.uri}") from exc
        raise _open_error(prefix, exc) from exc
    folders = [("", iter(first))]  # a stack rather than recursion: folders may nest deep
    while folders:
        below, entries = folders[-1]
        entry = next(entries, None)
        if entry is None:
            folders.pop()
            continue
        key = os.fsencode(below) + entry.key
        if after is not None and key <= after and not (entry.folder and after.startswith(key)):
            continue  # listed before `start_after` (a folder: everything in it is)
        if not entry.folder:
            yield below + entry.name, entry.path
            continue
        try:
            if (identity := _identity(entry.path)) not in seen:
                seen.add(identity)
                inner = _entries(entry.path, keep, follow)
                folders.append((f"{below}{entry.name}/", iter(inner)))
        except OSError as exc:
            log.warning("skipping folder %s: %s", entry.path, exc.strerror)


def _identity(folder: str) -> tuple[int, int]:
    info = os.stat(folder)
    return info.st_dev, info.st_ino


def _entries(
    folder: str, keep: Callable[[str], bool], follow: Callable[[Path], bool]
) -> list[_Entry]:
    """A folder's subfolders and kept regular files (links `follow` accepts), by key."""
    entries = []
    with os.scandir(folder) as scan:
        for found in scan:
            entry = _followed(found, follow) if found.is_symlink() else _plain(found)
            if entry is not None and (entry.folder or keep(entry.name)):
                entries.append(entry)
    return sorted(entries, key=lambda entry: entry.key)


def _plain(found: os.DirEntry[str]) -> _Entry | None:
    if found.is_dir(follow_symlinks=False):
        return _Entry(found.name, found.path, folder=True)
    return _Entry(found.name, found.path, folder=False) if found.is_file() else None


def _followed(link: os.DirEntry[str], follow: Callable[[Path], bool]) -> _Entry | None:
    """Where a link leads, when that is a folder or a regular file `follow` accepts; dangling
    links and loops are left out (a reference to one is not_found when read)."""
    try:
        target = Path(os.path.realpath(link.path, strict=True))
        mode = os.stat(target).st_mode
    except OSError:
        return None
    if (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) and follow(target):
        return _Entry(link.name, str(target), folder=stat.S_ISDIR(mode))
    return None
