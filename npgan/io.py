"""Files on disk: ``.npz`` archives written atomically, read with clear errors.

A save never leaves a half-written file where the old one was: the archive is
written to a temporary file in the same folder, flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile

from .backend import host

# npgan's own temporary files: a writer's clean-up removes these and never a user's ``.tmp-*``
TEMP_PREFIX = ".npgan-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def check_writable(path) -> None:
    """Say now, in one line, if ``path`` cannot be written: a folder, or a folder that cannot be
    made or written to (before the work whose result it is meant to hold)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the folder for {path}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: the folder {folder} is not writable")


def save_npz(path, arrays: dict) -> str:
    """Write ``arrays`` (name -> host array) to ``path`` atomically; return the path."""
    with atomic_write(path) as f:
        host.savez(f, **arrays)
    return os.fspath(path)


def save_npy(path, array) -> str:
    """Write one host array to a ``.npy`` file atomically; return the path."""
    with atomic_write(path) as f:
        host.save(f, array)
    return os.fspath(path)


MAX_ARCHIVE_BYTES = 1 << 30  # what load_npz will inflate, at most (a DCGAN checkpoint: ~10 MB)


def _check_sizes(path, limit: int) -> None:
    """Read each array's header (shape, dtype) and refuse the archive before inflating any data
    when they claim more than ``limit`` bytes in all (a deflate bomb, a forged header)."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as f:
                major, _ = host.lib.format.read_magic(f)
                read = host.lib.format.read_array_header_1_0 if major == 1 else host.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
            size = dtype.itemsize
            for d in shape:
                size *= d
            total += size
            if total > limit:
                raise ValueError(f"{path}: array {info.filename[:-4]!r} claims shape {shape} of {dtype}; the "
                                 f"archive would take over {limit / 2**30:.0f} GiB, more than an npgan file holds")


def load_npz(path, max_bytes: int = MAX_ARCHIVE_BYTES) -> dict:
    """Read an archive written by ``save_npz`` into a dict of host arrays.

    A missing file raises ``FileNotFoundError``; anything that is not a readable
    ``.npz`` raises ``ValueError``; both name the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an npgan checkpoint (not an .npz archive)")
    try:
        _check_sizes(path, max_bytes)
        with host.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        if str(exc).startswith(os.fspath(path)):
            raise
        raise ValueError(f"cannot read {path} as an .npz archive: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"cannot read {path} as an .npz archive: {exc}") from None
