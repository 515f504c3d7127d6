"""A run directory's files, and what they guarantee.

* **One writer.** ``RunDir.lock()`` takes an advisory lock on ``DIR/.npgan.lock``
  (``fcntl.flock``, POSIX); a second ``npgan train`` on the same folder is refused.
* **Nothing half-written.** ``checkpoint.npz`` is replaced atomically (temporary file,
  then rename); temporary files a killed process left behind are removed when the
  next writer takes the lock.
* **A metrics line is whole or absent.** Each line of ``metrics.jsonl`` is one
  ``write`` of a complete line; strict JSON only (a non-finite number is refused before
  anything is written). Reading back, a torn *last* line (a full disk, a kill mid-write)
  is dropped with a warning; any other bad line is an error that names the file and line.
"""

from __future__ import annotations

import glob
import json
import math
import os


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked (locked, or holding another run)."""


class RunDir:
    def __init__(self, path):
        self.path = os.fspath(path)
        self.checkpoint = os.path.join(self.path, "checkpoint.npz")
        self.metrics = os.path.join(self.path, "metrics.jsonl")
        self._lock_file = None

    def holds_a_run(self) -> bool:
        return os.path.exists(self.checkpoint) or os.path.exists(self.metrics)

    # -- one writer ------------------------------------------------------------------
    def lock(self) -> "RunDir":
        """Take the folder's advisory lock (refused if another process holds it), then clean up
        the temporary files an interrupted writer may have left."""
        os.makedirs(self.path, exist_ok=True)
        f = open(os.path.join(self.path, ".npgan.lock"), "a+")
        try:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock, as documented
            pass
        except OSError:
            f.close()
            raise RunDirError(f"{self.path}: another npgan process is writing to this run; "
                              f"wait for it to finish, or choose another folder") from None
        self._lock_file = f
        for tmp in glob.glob(os.path.join(self.path, ".tmp-*")) + \
                glob.glob(os.path.join(self.path, "*", ".tmp-*")):
            os.remove(tmp)
        return self

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
            self._lock_file = None

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.unlock()
        return False

    # -- the metrics log ---------------------------------------------------------------
    def read_records(self, upto: int, warn=print) -> list:
        """The records of ``metrics.jsonl`` up to step ``upto``; a torn last line is dropped."""
        if not os.path.exists(self.metrics):
            return []
        with open(self.metrics, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        complete, last = lines[:-1], lines[-1]
        if last.strip():  # no newline at the end: a line whose write was cut short
            warn(f"note: {self.metrics}: dropped an incomplete last line ({len(last)} characters)")
        records = []
        for number, line in enumerate(complete, 1):
            if line.strip():
                records.append(self._parse(line, number))
        return [r for r in records if r["step"] <= upto]

    def _parse(self, line: str, number: int) -> dict:
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{self.metrics}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise ValueError(f"{self.metrics}, line {number}: expected an object with an integer "
                             f"'step', got {line[:60]!r}")
        return record

    def start_log(self, records: list) -> None:
        """Rewrite the metrics log with ``records`` (on resume: drops lines past the checkpoint)."""
        from ..io import atomic_write
        with atomic_write(self.metrics, "w") as f:
            f.writelines(encode(r) for r in records)

    def append(self, record: dict) -> None:
        """Append one record as one complete line, written with a single call and synced."""
        line = encode(record).encode("utf-8")
        fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.write(fd, line) != len(line):
                raise OSError(f"{self.metrics}: short write")
            os.fsync(fd)
        finally:
            os.close(fd)


def encode(record: dict) -> str:
    """One strict-JSON line; a non-finite number raises ``ValueError`` naming its key."""
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}")
    return json.dumps(record, allow_nan=False) + "\n"
