"""The served pump's security log on disk: hash-chained JSON lines, rotated, with a cap.

``security.jsonl`` receives one `LoggedEvent` per line. When it would grow past
`MAX_FILE_BYTES`, it is renamed ``security.1.jsonl`` (the older ones move up to
``security.2.jsonl`` …) and a new one is started; at most `KEPT_FILES` old files are
kept, so the log never takes more than ``(KEPT_FILES + 1) × MAX_FILE_BYTES`` on disk
(`DISK_CAP`) whatever an attacker sends. The chain runs on across files: the first
record of a new file links to the last of the previous one. A restarted pump continues
the chain from the last record (`SecurityLogFile.head`), and `verify_security_log`
checks every record still kept, oldest first.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from thecal.link.events import ChainBreak, LoggedEvent, verify_chain

__all__ = [
    "DISK_CAP",
    "KEPT_FILES",
    "LOG_FILE",
    "MAX_FILE_BYTES",
    "SecurityLogFile",
    "read_security_log",
    "verify_security_log",
]

LOG_FILE = "security.jsonl"
MAX_FILE_BYTES = 1024 * 1024
KEPT_FILES = 4
DISK_CAP = (KEPT_FILES + 1) * MAX_FILE_BYTES
"""The most the security log takes on disk: 5 MiB."""


def _rotated(directory: Path, number: int) -> Path:
    return directory / f"security.{number}.jsonl"


def log_files(directory: Path) -> list[Path]:
    """The log's files, oldest first."""
    older = [_rotated(directory, n) for n in range(KEPT_FILES, 0, -1)]
    return [path for path in [*older, directory / LOG_FILE] if path.exists()]


def read_security_log(directory: Path) -> tuple[list[LoggedEvent], list[str]]:
    """Every record kept, oldest first, and a description of each line that is not a
    record (a line torn by a kill mid-write, or an edit)."""
    records: list[LoggedEvent] = []
    problems: list[str] = []
    for path in log_files(directory):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    records.append(LoggedEvent.from_dict(json.loads(line)))
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    problems.append(f"{path.name} line {number}: not a log record")
    return records, problems


def verify_security_log(directory: Path) -> ChainBreak | None:
    """None if the kept records form one unbroken chain; else where it breaks."""
    records, problems = read_security_log(directory)
    if problems:
        return ChainBreak(-1, problems[0])
    return verify_chain(records)


class SecurityLogFile:
    """Appends records to the rotating files in `directory` (owner-only)."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = MAX_FILE_BYTES,
        kept_files: int = KEPT_FILES,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.kept_files = kept_files
        self.path = directory / LOG_FILE
        self._handle = self._open()

    def _open(self) -> io.BufferedWriter:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(descriptor, "ab")
        assert isinstance(handle, io.BufferedWriter)
        return handle

    def head(self) -> tuple[int, str] | None:
        """(sequence, hash) of the last whole record kept, to continue the chain from."""
        for path in reversed(log_files(self.directory)):
            last = _last_record(path)
            if last is not None:
                return last.seq, last.hash
        return None

    def append(self, record: LoggedEvent) -> None:
        line = (json.dumps(record.as_dict(), sort_keys=True) + "\n").encode()
        written = self._handle.tell()
        if written > 0 and written + len(line) > self.max_bytes:
            self._rotate()
        self._handle.write(line)
        self._handle.flush()

    def _rotate(self) -> None:
        self.close()
        _rotated(self.directory, self.kept_files).unlink(missing_ok=True)
        for number in range(self.kept_files - 1, 0, -1):
            older = _rotated(self.directory, number)
            if older.exists():
                older.replace(_rotated(self.directory, number + 1))
        if self.kept_files > 0:
            self.path.replace(_rotated(self.directory, 1))
        else:
            self.path.unlink(missing_ok=True)
        self._handle = self._open()

    def close(self) -> None:
        self._handle.close()


def _last_record(path: Path) -> LoggedEvent | None:
    """The last whole record of `path` (a torn last line is skipped)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 8192))
        lines = handle.read().splitlines()
    for line in reversed(lines):
        try:
            return LoggedEvent.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            continue
    return None
