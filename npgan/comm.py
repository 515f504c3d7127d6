"""Communicators: what data-parallel training needs of several processes, and nothing more.

One process per rank, all running the same program (``mpiexec -n N npgan train ...``). A
communicator knows its ``rank`` and the ``size`` of the job and offers:

* ``allreduce(a)``: the element-wise sum of ``a`` over all ranks, written into ``a`` (a
  contiguous array of the current backend), returned;
* ``allreduce_host(values)``: the same for a few Python floats (statistics, flags);
* ``bcast(obj)``: rank 0's ``obj`` on every rank; ``allgather(obj)``: every rank's, in rank order;
* ``abort(code)``: end every rank of the job now (a failed rank must not leave the others
  waiting in a collective for ever).

Three implementations, ChainerMN's in miniature:

* ``SingleProcess``: rank 0 of 1; every collective is the identity. What a plain ``npgan
  train`` uses, so that the training code has one path.
* ``MPICommunicator``: mpi4py over ``MPI.COMM_WORLD``, on host arrays (a CuPy array goes through
  host memory).
* ``NCCLCommunicator``: CuPy arrays summed on the devices by NCCL (``cupy.cuda.nccl``), on the
  current stream; NCCL's unique id is broadcast over MPI, which also carries the host
  collectives. One GPU per rank: rank r uses device r modulo the devices it sees.

``from_environment()`` picks one: a job started by ``mpiexec`` with more than one process gets
MPI (NCCL when the backend is CuPy), anything else ``SingleProcess``.
"""

from __future__ import annotations

import os

from . import backend as B

# what MPI launchers put in each process's environment: the job's size, the process's rank
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MPI_LOCALRANKID", "PMIX_RANK")


class CommunicatorError(RuntimeError):
    """A job that cannot run as asked (mpiexec without mpi4py, a rank out of step)."""


class SingleProcess:
    """Rank 0 of a job of one: every collective returns its input."""

    rank, size = 0, 1
    name = "single process"

    def allreduce(self, a):
        return a

    def allreduce_host(self, values):
        return [float(v) for v in values]

    def bcast(self, obj):
        return obj

    def allgather(self, obj):
        return [obj]

    def abort(self, code: int = 1):  # pragma: no cover - only a job of several ranks aborts
        raise SystemExit(code)


class MPICommunicator:
    """mpi4py's ``COMM_WORLD``: host arrays summed in place; device arrays through host memory."""

    name = "MPI"

    def __init__(self, mpi):
        self.MPI = mpi
        self.comm = mpi.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def allreduce(self, a):
        if B.array_backend(a) == "numpy":
            self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)
            return a
        host = B.to_numpy(a, copy=True)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        a[...] = B.asarray(host, dtype=a.dtype)
        return a

    def allreduce_host(self, values):
        buf = B.host.asarray([float(v) for v in values], dtype=B.host.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return [float(v) for v in buf]

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def abort(self, code: int = 1):
        self.comm.Abort(code)


class NCCLCommunicator(MPICommunicator):
    """CuPy arrays summed by NCCL on the current stream; MPI for the rest.

    Written against CuPy's ``cupy.cuda.nccl`` and not yet run on a machine with a GPU: the
    documentation's data-parallel page says what has run where."""

    name = "NCCL"

    def __init__(self, mpi):
        super().__init__(mpi)
        self.cuda = cuda = B.get_backend().cuda
        cuda.Device(self.rank % cuda.runtime.getDeviceCount()).use()
        self.nccl = cuda.nccl
        uid = self.bcast(self.nccl.get_unique_id() if self.rank == 0 else None)
        self.device_comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)
        self._types = {"float32": self.nccl.NCCL_FLOAT32, "float64": self.nccl.NCCL_FLOAT64}

    def allreduce(self, a):
        if B.array_backend(a) != "cupy":
            return super().allreduce(a)
        stream = self.cuda.get_current_stream().ptr
        self.device_comm.allReduce(a.data.ptr, a.data.ptr, a.size, self._types[a.dtype.name],
                                   self.nccl.NCCL_SUM, stream)
        return a


def _launcher(variables, default: int) -> int:
    for var in variables:
        value = os.environ.get(var, "").strip()
        if value.isdigit():
            return int(value)
    return default


def launched_size() -> int:
    """The number of processes an MPI launcher started this job with (1 without one)."""
    return _launcher(SIZE_VARIABLES, 1)


def launched_rank() -> int:
    """This process's rank as the MPI launcher numbered it (0 without one): known before MPI
    starts, so that only rank 0 speaks even about an error that comes first."""
    return _launcher(RANK_VARIABLES, 0)


def from_environment():
    """The communicator for this process: MPI (NCCL on CuPy) in a job of several processes
    started by ``mpiexec``, else ``SingleProcess``. A clear error where mpiexec started several
    processes and mpi4py is missing."""
    if launched_size() <= 1:
        return SingleProcess()
    try:
        from mpi4py import MPI  # noqa: PLC0415  (optional: the mpi extra)
    except ImportError as exc:
        raise CommunicatorError(f"mpiexec started {launched_size()} processes, and running them as one job "
                                f"needs mpi4py: pip install -e '.[mpi]' ({exc})") from None
    if MPI.COMM_WORLD.Get_size() <= 1:
        return SingleProcess()
    return NCCLCommunicator(MPI) if B.backend_name() == "cupy" else MPICommunicator(MPI)
