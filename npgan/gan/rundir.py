"""A run folder: one object that owns its layout, its lock, its checkpoint, its log and its identity.

Layout (``RunDir``'s names are the only place that spells them):

* ``checkpoint.npz``: the whole training state, the run's config and its identity;
* ``metrics.jsonl``: one JSON object per logging step, each tagged with the run's id;
* ``samples.png``, ``losses.png``, ``latent_map.png`` (2-D sets), ``grids/`` (image sets):
  the final outputs, which ``npgan plot DIR`` redraws from the two files above;
* ``.npgan.lock``: the advisory lock of the one writer.

What it guarantees:

* **One writer.** ``lock()`` takes an advisory lock on ``.npgan.lock`` (``fcntl.flock``,
  POSIX); a second writer is refused. The lock touches nothing else: the temporary files a
  killed writer left behind (``.npgan-tmp-*``, in the folder and its ``grids/`` only) are
  removed by ``prepare()``, once the command has been accepted.
* **Nothing half-written, nothing non-finite.** ``write_checkpoint`` checks every parameter
  and optimiser state for NaN or infinity first (``TrainingDiverged``: the last good
  checkpoint stays) and then replaces the file atomically, on every path, interrupts
  included. ``read_checkpoint`` checks what it reads in one place: the keys, the step, the
  config, finite arrays, the identity.
* **One run per folder.** A run gets an id when it starts, and a fingerprint of its config
  and of its data (every pixel of an image set); the checkpoint stores both and every
  metrics line the id. Resuming, sampling and evaluating refuse a checkpoint whose data
  or log belong to another run.
* **A metrics line is whole or absent.** Each line is one ``write`` of a complete line of
  strict JSON. Reading back, a torn *last* line (a full disk, a kill mid-write) is dropped
  with a note; any other bad line is an error that names the file and line.
* **No dead ends.** A folder is a run once it holds a checkpoint; a start that failed before
  its first checkpoint leaves nothing that stops the same command from running again.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import uuid

from .. import backend as B
from ..io import TEMP_PREFIX, atomic_write, load_npz, save_npz


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked (locked, or holding another run)."""


class TrainingDiverged(RuntimeError):
    """A non-finite loss or parameter: the run stops, its last good checkpoint is kept."""


class RunInterrupted(Exception):
    """A signal stopped the run between two steps; a checkpoint of that step was written."""

    def __init__(self, step: int, signal_name: str, folder: str, message: str | None = None):
        super().__init__(message or f"interrupted by {signal_name} at step {step}; checkpoint written: "
                                    f"continue with npgan train --resume {folder or '.'}")
        self.step, self.signal_name, self.folder = step, signal_name, folder


CHECKPOINT, METRICS, LOCK, GRIDS = "checkpoint.npz", "metrics.jsonl", ".npgan.lock", "grids"
PLOTS = ("samples.png", "losses.png", "latent_map.png")
# config keys that may differ between a run's start and its resumption: they do not change what
# is trained (the data's content is checked by its own fingerprint)
NOT_IDENTITY = ("steps", "log_every", "data_dir", "classifier")


def config_fingerprint(cfg: dict) -> str:
    """A hash of everything in a config that decides what is trained."""
    kept = {k: v for k, v in sorted(cfg.items()) if k not in NOT_IDENTITY}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def new_identity(cfg: dict, dataset) -> dict:
    """A new run's identity: a fresh id, and the fingerprints of its config and data."""
    return {"id": uuid.uuid4().hex[:12], "config": config_fingerprint(cfg), "data": dataset.fingerprint}


class Checkpoint:
    """What ``read_checkpoint`` found in a checkpoint file, checked: ``state`` (arrays),
    ``config`` (a dict), ``step`` (an int), ``identity`` (a dict, or None for checkpoints
    written before runs had one), ``path``."""

    def __init__(self, path, state, config, step, identity):
        self.path, self.state, self.config, self.step, self.identity = path, state, config, step, identity

    def check_data(self, dataset) -> None:
        """Refuse data other than the run was trained on (its fingerprint differs)."""
        if self.identity and self.identity.get("data") != dataset.fingerprint:
            where = f" in {self.config['data_dir']}" if self.config.get("data_dir") else ""
            raise ValueError(f"{self.path}: the {self.config['data']} data{where} differ from the data this run "
                             f"was trained on (fingerprint {dataset.fingerprint}, the run's "
                             f"{self.identity.get('data')}); point --data-dir at the run's own files")


def _json_field(state: dict, key: str, path: str, kind: type):
    if key not in state:
        raise KeyError(f"{path}: not a training checkpoint (missing key {key!r})")
    try:
        value = json.loads(str(state[key]))
    except ValueError:
        raise ValueError(f"{path}: its {key!r} is not valid JSON") from None
    if not isinstance(value, kind):
        raise ValueError(f"{path}: its {key!r} must be a JSON {'object' if kind is dict else kind.__name__}, "
                         f"got {type(value).__name__}")
    return value


def read_checkpoint(path, check_config=None) -> Checkpoint:
    """Read and check a checkpoint: training keys, a JSON config (checked by ``check_config``,
    which returns it completed), a step in [0, steps], finite arrays, a well-formed identity."""
    path = os.fspath(path)
    state = load_npz(path)
    cfg = _json_field(state, "config", path, dict)
    if "step" not in state or "rng" not in state:
        raise KeyError(f"{path}: not a training checkpoint (missing key {'step' if 'step' not in state else 'rng'!r})")
    step = state["step"]
    if step.shape != () or step.dtype.kind not in "iu":
        raise ValueError(f"{path}: its step must be one integer, got {step.dtype} {tuple(step.shape)}")
    if check_config is not None:
        try:
            cfg = check_config(cfg)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: its config is not valid: {exc}") from None
    step = int(step)
    if not 0 <= step <= cfg.get("steps", step):
        raise ValueError(f"{path}: step {step} is outside the run's 0..{cfg.get('steps')} steps")
    key = first_non_finite(state)
    if key is not None:
        raise ValueError(f"{path}: {key} has non-finite values (a diverged run; npgan writes none, "
                         f"so the file was altered or written by other code)")
    identity = _json_field(state, "run", path, dict) if "run" in state else None
    if identity is not None:
        if not all(isinstance(identity.get(k), str) for k in ("id", "config", "data")):
            raise ValueError(f"{path}: its run identity must name an id, a config and a data fingerprint")
        if identity["config"] != config_fingerprint(cfg):
            raise ValueError(f"{path}: its config was changed after the run wrote it (fingerprint "
                             f"{config_fingerprint(cfg)}, written {identity['config']})")
    return Checkpoint(path, state, cfg, step, identity)


def check_finite(record: dict, step: int) -> None:
    """Raise ``TrainingDiverged`` naming the first non-finite figure of a logging step."""
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingDiverged(f"training diverged: at step {step} {key} is {value}")


def first_non_finite(state: dict):
    """The name of the first floating-point array of a training state (host arrays) holding NaN
    or infinity, or None: what checkpoints are checked for, on writing and on reading."""
    return next((key for key, array in state.items()
                 if array.dtype.kind == "f" and not bool(B.host.isfinite(array).all())), None)


def _check_finite_state(state: dict, step: int) -> None:
    key = first_non_finite(state)
    if key is not None:
        raise TrainingDiverged(f"training diverged: at step {step} {key} has non-finite values")


class RunDir:
    """A run folder (see the module docstring): ``RunDir(path)``, or ``RunDir.of(path)`` for a
    folder or the checkpoint file in one."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.checkpoint = os.path.join(self.path, CHECKPOINT)
        self.metrics = os.path.join(self.path, METRICS)
        self.grids = os.path.join(self.path, GRIDS)
        self._lock_file = None

    @classmethod
    def of(cls, path) -> "RunDir":
        """The run a folder or checkpoint file belongs to (a checkpoint under another name: its folder)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            return cls(path)
        rd = cls(os.path.dirname(path) or ".")
        rd.checkpoint = path
        return rd

    def output(self, name: str) -> str:
        return os.path.join(self.path, name)

    def holds_a_run(self) -> bool:
        return os.path.exists(self.checkpoint)

    # -- one writer ------------------------------------------------------------------
    def lock(self) -> "RunDir":
        """Take the folder's advisory lock (refused if another process holds it)."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunDirError(f"{self.path} is a file, not a run folder; choose a folder for --out")
        os.makedirs(self.path, exist_ok=True)
        f = open(os.path.join(self.path, LOCK), "a+")
        try:
            import fcntl  # optional: POSIX only; elsewhere the folder is not locked
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock, as documented
            pass
        except OSError:
            f.close()
            raise RunDirError(f"{self.path}: another npgan process is writing to this run; "
                              f"wait for it to finish, or choose another folder") from None
        self._lock_file = f
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

    def prepare(self, resume: bool, overwrite: bool, log=print) -> None:
        """Under the lock, before a run writes: refuse to start over a run unless told to (then
        clear its outputs), and remove what a killed or failed writer left behind."""
        if not resume and self.holds_a_run():
            if not overwrite:
                raise RunDirError(f"{self.path} holds a run already: continue it with --resume {self.path}, "
                                  f"or start afresh there with --overwrite")
            self._remove([self.checkpoint, self.metrics] + [self.output(p) for p in PLOTS]
                         + glob.glob(os.path.join(self.grids, "step_*.png"))
                         + [os.path.join(self.grids, "training.gif")])
        elif not resume and os.path.exists(self.metrics):  # a start that failed before its first checkpoint
            log(f"note: {self.metrics} belongs to no checkpoint (a run that stopped before its first one); replaced")
            self._remove([self.metrics])
        self._remove(glob.glob(os.path.join(self.path, TEMP_PREFIX + "*"))
                     + glob.glob(os.path.join(self.grids, TEMP_PREFIX + "*")))

    @staticmethod
    def _remove(paths) -> None:
        for p in paths:
            if os.path.isfile(p):
                os.remove(p)

    # -- the checkpoint ------------------------------------------------------------------
    def read_checkpoint(self, check_config=None) -> Checkpoint:
        if os.path.isfile(self.path):
            raise RunDirError(f"{self.path} is a file; give the run's folder ({os.path.dirname(self.path) or '.'})")
        if self.checkpoint == os.path.join(self.path, CHECKPOINT) and not os.path.exists(self.checkpoint):
            raise FileNotFoundError(f"{self.path} holds no run (no {CHECKPOINT}); start one with "
                                    f"npgan train --out {self.path}")
        return read_checkpoint(self.checkpoint, check_config)

    def write_checkpoint(self, trainer, cfg: dict, identity: dict) -> str:
        """Check that the training state (parameters, buffers, optimiser moments) is finite, then
        replace the checkpoint atomically; ``TrainingDiverged`` leaves the last good one in place."""
        state = trainer.state_dict()
        _check_finite_state(state, trainer.step)
        state["config"] = B.host.asarray(json.dumps(cfg))
        state["run"] = B.host.asarray(json.dumps(identity))
        return save_npz(self.checkpoint, state)

    # -- the metrics log -----------------------------------------------------------------
    def read_records(self, upto: int, run_id: str | None = None, warn=print) -> list:
        """The records of ``metrics.jsonl`` up to step ``upto``; a torn last line is dropped; a
        line of another run (``run_id``) is refused."""
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
                record = self._parse(line, number)
                if run_id is not None and record.get("run") != run_id:
                    raise RunDirError(f"{self.metrics}, line {number}: belongs to run {record.get('run')}, the "
                                      f"checkpoint to run {run_id}: two runs' files are mixed in {self.path}; "
                                      f"move one of them to its own folder")
                records.append(record)
        return [r for r in records if r["step"] <= upto]

    def _parse(self, line: str, number: int) -> dict:
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{self.metrics}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict) or type(record.get("step")) is not int:
            raise ValueError(f"{self.metrics}, line {number}: expected an object with an integer "
                             f"'step', got {line[:60]!r}")
        return record

    def start_log(self, records: list) -> None:
        """Rewrite the metrics log with ``records`` (on resume: drops lines past the checkpoint)."""
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
