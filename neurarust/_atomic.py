"""Atomic file writes: temp file in the target's directory, flush, fsync, rename, fsync dir.

A reader never sees a half-written checkpoint or run record: either the old file or the new.

The temp file is named ``.<target name>.<8 random chars>.tmp`` and created like any file a
program opens for writing (mode ``0o666`` less the umask, not ``mkstemp``'s ``0o600``), so the
final file has the permissions the user's umask asks for. While it is written the writer
holds an exclusive ``flock`` on it. A save killed half-way (``kill -9``, power loss) leaves
its temp file behind; the next save to the same target removes every such leftover whose lock
it can take (its writer is gone: the kernel drops a dead process's locks), and never touches
a temp file that another live save is still writing.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from typing import BinaryIO

try:  # POSIX; elsewhere leftovers are not cleaned up (there is no way to tell them apart)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "fsync_directory", "remove_stale_temp_files", "temp_name_pattern"]

PathLike = str | os.PathLike[str]

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"  # as tempfile.mkstemp's names
_MODE = 0o666  # reduced by the umask, as open() does


def temp_name_pattern(basename: str) -> re.Pattern[str]:
    """The names of the temp files that a write to ``basename`` creates (and that earlier
    versions, through ``tempfile.mkstemp``, created): ``.<basename>.<8 chars>.tmp``."""
    return re.compile(re.escape("." + basename + ".") + "[a-z0-9_]{8}" + re.escape(".tmp"))


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temp file next to ``path``, then move it over ``path``.

    Stale temp files of ``path`` left by killed writes are removed first (see the module doc).
    """
    target = os.path.abspath(os.fspath(path))
    directory, basename = os.path.split(target)
    remove_stale_temp_files(directory, basename)
    fd, tmp = _create_locked(directory, basename)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # while the lock is held: no one can take it for stale
                os.replace(tmp, target)
        if fcntl is None:  # pragma: no cover - Windows can't rename an open file
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(directory)


def _create_locked(directory: str, basename: str) -> tuple[int, str]:
    """A new temp file for ``basename`` in ``directory``, open for writing and locked."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        tmp = os.path.join(directory, f".{basename}.{suffix}.tmp")
        try:
            fd = os.open(tmp, flags, _MODE)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A cleaner may have locked and unlinked it between our open and our lock.
            if os.fstat(fd).st_nlink > 0:
                return fd, tmp
        except OSError:
            pass
        os.close(fd)
    raise FileExistsError(f"atomic_write: could not create a temp file for {basename!r} in "
                          f"{directory!r}")


def remove_stale_temp_files(directory: str, basename: str) -> list[str]:
    """Remove the temp files of ``basename`` in ``directory`` that no live write holds;
    return the names removed. Only names of :func:`temp_name_pattern` are considered."""
    if fcntl is None:  # pragma: no cover - Windows
        return []
    pattern = temp_name_pattern(basename)
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(directory or ".") if pattern.fullmatch(n)]
    except OSError:
        return removed
    for name in names:
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live write holds it
            os.close(fd)
            continue
        try:
            st = os.lstat(full)
            if st.st_ino == os.fstat(fd).st_ino and st.st_dev == os.fstat(fd).st_dev:
                os.unlink(full)
                removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def fsync_directory(directory: str) -> None:
    """Make a rename durable (POSIX); a no-op where directories can't be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
