"""Atomic, private state files for the served pump and for controllers, and the lock that
lets only one process serve a state directory.

A state file is replaced whole or not at all: written to a temporary file in the same
directory, flushed to disk, renamed over the old one, and the directory entry flushed
too. A crash at any instant leaves either the old file or the new one, never a torn mix;
a kill between writing and renaming leaves a temporary file (``.NAME.XXXXXXXX.partial``),
which `remove_partial_writes` deletes when the owner starts again. Files are created
readable by their owner only: they hold private keys.

A served pump's state directory is its non-volatile memory: two processes serving it
would each hold their own copy and overwrite each other's (a revocation written by one
is rolled back by the other's next save). `DirectoryLock` is an exclusive `flock` on a
lock file in the directory, held for as long as the pump is served; the kernel releases
it when the process dies, so a killed server never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_FILE",
    "DirectoryBusy",
    "DirectoryLock",
    "atomic_write_bytes",
    "atomic_write_json",
    "private_directory",
    "read_json",
    "remove_partial_writes",
]

LOCK_FILE = "serving.lock"
_PARTIAL_SUFFIX = ".partial"
# mkstemp's random part is 8 characters of [a-z0-9_]
_PARTIAL = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(_PARTIAL_SUFFIX) + "$")


def private_directory(path: Path) -> Path:
    """Create `path` (and parents) if needed, owner-only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=_PARTIAL_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def remove_partial_writes(directory: Path) -> list[str]:
    """Delete the temporary files that writes interrupted by a kill left in `directory`
    (only ours: ``.NAME.XXXXXXXX.partial``); return their names. Call it only while no
    other process writes there (a served pump holds its `DirectoryLock`)."""
    removed: list[str] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if _PARTIAL.match(entry.name) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry.name)
    return sorted(removed)


def read_json(path: Path) -> Any:
    """The JSON in `path`; `ValueError` naming the file if it is not JSON."""
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a valid state file ({error})") from None


class DirectoryBusy(ValueError):
    """Another process holds the directory's lock."""


class DirectoryLock:
    """An exclusive lock on `directory` for the life of this object (until `release`)."""

    def __init__(self, directory: Path) -> None:
        private_directory(directory)
        self.path = directory / LOCK_FILE
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(descriptor, 32).decode("ascii", "replace").strip()
            os.close(descriptor)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise DirectoryBusy(
                f"{directory} is being served by another pump process{who}; stop it first "
                "or choose another --state"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor: int | None = descriptor

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
