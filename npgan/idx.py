"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout (big-endian): two zero bytes, a type code (0x08 = unsigned byte, the only
one these data sets use; 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64 are read too), the number of dimensions d, then d int32 sizes,
then the values in C order.
"""

from __future__ import annotations

import gzip
import os

from .backend import host

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array stored in an IDX file (``.gz`` or plain), as a host NumPy array."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile; EOFError: a truncated .gz file
        raise ValueError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(v) for v in host.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = host.dtype(_TYPES[raw[2]])
    count = int(host.prod(dims)) if dims else 1
    if len(raw) != header + count * dtype.itemsize:
        raise ValueError(f"{path}: header says shape {dims} ({count * dtype.itemsize} bytes of data), "
                         f"file holds {len(raw) - header}")
    return host.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write a host array as IDX (gzip when ``path`` ends in .gz); for tests and small tools."""
    array = host.asarray(array)
    codes = {(host.dtype(t).kind, host.dtype(t).itemsize): c for c, t in _TYPES.items()}
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in codes:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + host.asarray(array.shape, dtype=">i4").tobytes()
    data = header + array.astype(_TYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)
