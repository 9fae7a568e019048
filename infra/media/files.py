"""file:// media: read regular files only, within a size and time limit, and list folders in the
order S3 lists keys."""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.uris import MediaRef, file_uri

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


def list_files(prefix: MediaRef, keep: Callable[[str], bool]) -> Iterator[str]:
    """References of the regular files under a folder whose names `keep` accepts, in key order:
    by the bytes of the path below the folder, as S3 lists keys. Symlinks are not followed."""
    try:
        top = _entries(prefix.path, keep)
    except OSError as exc:
        if exc.errno in {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}:
            raise ItemError(ItemErrorCode.NOT_FOUND, f"folder not found: {prefix.uri}") from exc
        raise _open_error(prefix, exc) from exc
    folders = [iter(top)]  # a stack rather than recursion: folders may nest thousands deep
    while folders:
        entry = next(folders[-1], None)
        if entry is None:
            folders.pop()
        elif entry.is_dir(follow_symlinks=False):
            try:
                folders.append(iter(_entries(entry.path, keep)))
            except OSError as exc:
                log.warning("skipping folder %s: %s", entry.path, exc.strerror)
        else:
            yield file_uri(Path(entry.path))


def _entries(folder: str, keep: Callable[[str], bool]) -> list[os.DirEntry[str]]:
    """A folder's subfolders and kept regular files, ordered by key (a folder's key ends in `/`,
    so `a b.jpg` < `a/…` < `a0.jpg`)."""
    with os.scandir(folder) as scan:
        entries = [
            entry
            for entry in scan
            if entry.is_dir(follow_symlinks=False)
            or (entry.is_file(follow_symlinks=False) and keep(entry.name))
        ]

    def key(entry: os.DirEntry[str]) -> bytes:
        return os.fsencode(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))

    return sorted(entries, key=key)
