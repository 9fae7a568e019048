"""`mmsearch backup DEST`: copy a stopped standalone's data folder, keeping its files sparse.

The embedded engine preallocates its files, so a plain copy writes every hole out as zeros: a
folder of 31 MB on disk becomes a copy of its 1.3 GB apparent size. Here only the parts of each
file that hold data are written (found with SEEK_DATA/SEEK_HOLE; blocks of zeros within them are
skipped too), and the copy gets each file's size, so it takes about the space the original does.
The copy is a data folder itself: restore by pointing MMSEARCH_DATA_DIR at it (or moving it back).
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmsearch.infra.errors import Unavailable
from mmsearch.infra.local_redis import PID_FILE, runs_redis_in
from mmsearch.infra.settings import get_settings

BLOCK = 1 << 16


class BackupRefused(Exception):
    """The backup cannot be taken as asked (the folder is in use, or the target exists)."""


def data_segments(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each part of the file that may hold data; all of it where the file
    system cannot tell holes apart."""
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole up to the end
                return
            yield position, size  # SEEK_DATA unsupported here
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        position = end


def copy_sparse(source: Path, target: Path) -> None:
    """Copy a regular file, writing only its non-zero blocks; size, mode and times kept."""
    zeros = bytes(BLOCK)
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        for start, end in data_segments(src.fileno(), size):
            src.seek(start)
            for offset in range(start, end, BLOCK):
                chunk = src.read(min(BLOCK, end - offset))
                if chunk != zeros[: len(chunk)]:
                    dst.seek(offset)
                    dst.write(chunk)
        dst.truncate(size)  # the tail hole, and the file's full apparent size
    shutil.copystat(source, target)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder tree: folders, symlinks as links, regular files sparse; nothing else."""
    target.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        to = target / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), to)
        elif entry.is_dir():
            copy_tree(entry, to)
        elif entry.is_file():
            copy_sparse(entry, to)
    shutil.copystat(source, target)


@contextmanager
def stopped(data_dir: Path) -> Iterator[None]:
    """Hold the embedded engine's folder lock for the copy, so no server starts on it meanwhile;
    refuse while a standalone (its engine, or its private Redis) runs on the folder."""
    # imported here: the other commands of the CLI load no engine
    from mmsearch.infra.vectors.edge.files import lock_folder

    redis_dir = data_dir / "redis"
    try:
        pid = int((redis_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and runs_redis_in(pid, redis_dir):
        raise BackupRefused(f"a redis-server (pid {pid}) runs on {redis_dir}: stop mmsearch first")
    engine = data_dir / "qdrant"
    if not engine.is_dir():
        yield
        return
    try:
        lock = lock_folder(engine)
    except Unavailable as exc:
        raise BackupRefused(f"{exc.message}: stop mmsearch standalone first") from None
    try:
        yield
    finally:
        lock.close()


def backup(data_dir: Path, dest: Path) -> None:
    """Copy the data folder `data_dir` to the new folder `dest`, sparse; BackupRefused if the
    folder is in use, missing, or `dest` exists."""
    if not data_dir.is_dir():
        raise BackupRefused(f"no data folder at {data_dir} (MMSEARCH_DATA_DIR)")
    if dest.exists():
        raise BackupRefused(f"{dest} exists: give a new folder")
    with stopped(data_dir):
        copy_tree(data_dir, dest)


def cmd_backup(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or get_settings().data_dir
    try:
        backup(data_dir, args.dest)
    except BackupRefused as exc:
        print(f"mmsearch backup: {exc}", file=sys.stderr)
        return 2
    print(f"copied {data_dir} to {args.dest}; restore: MMSEARCH_DATA_DIR={args.dest}")
    return 0


def register(sub: Any) -> None:
    """Add the `backup` command."""
    parser = sub.add_parser("backup", help="copy a stopped standalone's data folder (sparse)")
    parser.add_argument("dest", type=Path, help="a new folder for the copy")
    parser.add_argument("--data-dir", type=Path, default=None, help="MMSEARCH_DATA_DIR")
    parser.set_defaults(func=cmd_backup)
