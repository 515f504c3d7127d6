"""Data-parallel training (``npgan.parallel``, ``npgan.comm``): the pieces on one process, and
whole runs under ``mpiexec -n 2`` against one process (skipped with a reason where mpi4py or
mpiexec is missing; the ``mpi`` extra installs both from wheels)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import synthetic_fashion
from npgan import backend as B
from npgan import comm, nn, parallel
from npgan.gan.rundir import read_checkpoint

try:
    import mpi4py  # noqa: F401
    MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    MPI_REASON = None if MPIEXEC else "mpiexec is not on PATH (pip install -e '.[mpi]' brings MPICH's)"
except ImportError:
    MPIEXEC, MPI_REASON = None, "mpi4py is not installed (pip install -e '.[mpi]')"
needs_mpi = pytest.mark.skipif(MPI_REASON is not None, reason=MPI_REASON or "")
ROOT = Path(__file__).resolve().parent.parent


# -- on one process -------------------------------------------------------------------------
class FakeRanks:
    """Rank ``rank`` of ``size``, whose all-reduce adds what the other ranks hold (given)."""

    def __init__(self, rank, size, others=()):
        self.rank, self.size, self.others = rank, size, list(others)

    def allreduce(self, a):
        for other in self.others.pop(0) if self.others else ():
            a += other
        return a

    def allreduce_host(self, values):
        return [v * self.size for v in values]  # every rank logged the same figure

    def allgather(self, obj):
        return [obj] * self.size


def test_shard_takes_this_ranks_rows(backend_name):
    x = B.asarray(np.arange(12.0).reshape(6, 2))
    assert parallel.shard(x, comm.SingleProcess()) is x
    np.testing.assert_array_equal(B.to_numpy(parallel.shard(x, FakeRanks(1, 3))), [[4, 5], [6, 7]])


def test_average_gradients_is_the_mean_over_ranks_in_one_buffer(backend_name):
    a, b = nn.Parameter(B.asarray(np.zeros((2, 2))), "a"), nn.Parameter(B.asarray(np.zeros(3)), "b")
    a.grad[...] = 1.0
    b.grad[...] = 2.0
    other = B.asarray(np.array([3.0, 3, 3, 3, 4, 4, 4]))  # the other rank's flat buffer
    parallel.average_gradients([a, b], FakeRanks(0, 2, [[other]]))
    np.testing.assert_allclose(B.to_numpy(a.grad), 2.0)
    np.testing.assert_allclose(B.to_numpy(b.grad), 3.0)


def test_mean_over_ranks_and_the_checksum(backend_name):
    assert parallel.mean_over_ranks({"d_loss": 1.5, "step": 3}, FakeRanks(0, 2)) == {"d_loss": 1.5, "step": 3}
    p = nn.Parameter(B.normal((3,)), "p")
    parallel.check_in_step([p], FakeRanks(0, 2))  # the same everywhere: passes

    class Differs(FakeRanks):
        def allgather(self, obj):
            return [obj, (obj[0] + 1e-12, obj[1])]

    with pytest.raises(parallel.RanksOutOfStep, match="parameters differ"):
        parallel.check_in_step([p], Differs(0, 2))


def test_one_process_without_a_launcher():
    assert isinstance(comm.from_environment(), comm.SingleProcess)


def test_mpiexec_without_mpi4py_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(comm.CommunicatorError, match=r"mpiexec started 2 processes.*pip install -e '.\[mpi\]'"):
        comm.from_environment()


# -- under mpiexec ----------------------------------------------------------------------------------
def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NPGAN_BACKEND": "numpy"}


def _npgan(n, *args, timeout=300):
    command = [sys.executable, "-m", "npgan", *args]
    if n > 1:
        command = [MPIEXEC, "-n", str(n)] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)


def _max_relative_difference(folder_a, folder_b) -> float:
    a, b = read_checkpoint(Path(folder_a) / "checkpoint.npz").state, read_checkpoint(Path(folder_b) / "checkpoint.npz").state
    assert set(a) == set(b)
    worst = 0.0
    for key in a:
        if key in ("config", "run", "rng", "step"):
            assert key in ("config", "run") or str(a[key]) == str(b[key]), key  # the same step and random state
            continue
        scale = max(float(np.abs(a[key]).max()), 1e-30)
        worst = max(worst, float(np.abs(a[key] - b[key]).max()) / scale)
    return worst


@needs_mpi
def test_two_processes_train_ring8_as_one_does(tmp_path):
    args = ["train", "--data", "ring8", "--dtype", "float64", "--seed", "0", "--steps", "20", "--batch-size", "256",
            "--log-every", "10", "--no-progress"]
    one, two = _npgan(1, *args, "--out", str(tmp_path / "one")), _npgan(2, *args, "--out", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout.count('"step": 20') == 1  # rank 0 alone speaks
    assert _max_relative_difference(tmp_path / "one", tmp_path / "two") < 1e-9
    logged = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [10, 20]


@needs_mpi
def test_two_processes_train_a_dcgan_with_synchronised_batchnorm_as_one_does(tmp_path):
    (tmp_path / "data").mkdir()
    folder = synthetic_fashion(tmp_path / "data", n_train=200, n_test=100)
    clf = _npgan(1, "train-classifier", "--data-dir", str(folder), "--epochs", "1", "--out", str(tmp_path / "clf.npz"),
                 "--no-progress")
    assert clf.returncode == 0, clf.stderr
    args = ["train", "--data", "fashion-mnist", "--data-dir", str(folder), "--classifier", str(tmp_path / "clf.npz"),
            "--dtype", "float64", "--seed", "0", "--steps", "4", "--batch-size", "64", "--width", "4",
            "--latent-dim", "8", "--log-every", "2", "--no-progress"]
    one, two = _npgan(1, *args, "--out", str(tmp_path / "one")), _npgan(2, *args, "--out", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    state = read_checkpoint(tmp_path / "two" / "checkpoint.npz").state
    assert any(k.endswith("running_mean") for k in state)  # the networks hold BatchNorms
    assert _max_relative_difference(tmp_path / "one", tmp_path / "two") < 1e-9


@needs_mpi
def test_a_run_resumes_on_another_number_of_processes(tmp_path):
    args = ["--data", "ring8", "--dtype", "float64", "--seed", "1", "--batch-size", "128", "--log-every", "5",
            "--lr-decay", "none",  # the schedule would depend on --steps, which the resume changes
            "--no-progress"]
    straight = _npgan(1, "train", *args, "--steps", "10", "--out", str(tmp_path / "straight"))
    first = _npgan(2, "train", *args, "--steps", "5", "--out", str(tmp_path / "split"))
    assert straight.returncode == 0 and first.returncode == 0, first.stderr
    second = _npgan(1, "train", "--resume", str(tmp_path / "split"), "--steps", "10", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert _max_relative_difference(tmp_path / "straight", tmp_path / "split") < 1e-9


SYNC_BATCHNORM_CHECK = """
import sys
import numpy as np
from npgan import backend as B, comm, nn
ranks = comm.from_environment()
B.set_dtype("float64")
rng = np.random.default_rng(0)
x_all, w_all = rng.normal(size=(6, 3, 2, 2)) * 2 + 1, rng.normal(size=(6, 3, 2, 2))
rows = slice(3 * ranks.rank, 3 * ranks.rank + 3)
bn = nn.BatchNorm(3)
bn.weight.data = B.asarray(rng.normal(size=3) + 1)
bn.bias.data = B.asarray(rng.normal(size=3))
bn.comm = ranks

def loss(x_local):  # L = sum over every rank's rows of y * w
    local = float((B.to_numpy(bn.forward(B.asarray(x_local), training=True)) * w_all[rows]).sum())
    return ranks.allreduce_host([local])[0]

x = x_all[rows].copy()
bn.zero_grad()
y = B.to_numpy(bn.forward(B.asarray(x), training=True))
dx = B.to_numpy(bn.backward(B.asarray(w_all[rows])))
one = nn.BatchNorm(3)  # one process on the whole batch: the same outputs and input gradients
one.weight.data, one.bias.data = bn.weight.data.copy(), bn.bias.data.copy()
y_one = B.to_numpy(one.forward(B.asarray(x_all), training=True))
dx_one = B.to_numpy(one.backward(B.asarray(w_all)))
same = max(np.abs(y - y_one[rows]).max(), np.abs(dx - dx_one[rows]).max() / np.abs(dx_one).max())
dgamma = B.to_numpy(ranks.allreduce(bn.weight.grad.copy()))  # the rank's sums, added up
worst, h = 0.0, 1e-6
for owner in range(ranks.size):
    for k in range(0, x.size, 5):
        plus, minus = x.copy(), x.copy()
        if owner == ranks.rank:
            plus.flat[k] += h
            minus.flat[k] -= h
        numeric = (loss(plus) - loss(minus)) / (2 * h)
        if owner == ranks.rank:
            worst = max(worst, abs(numeric - dx.flat[k]) / max(np.abs(dx).max(), 1e-3))
for c in range(3):
    g = bn.weight.data
    g[c] += h
    up = loss(x)
    g[c] -= 2 * h
    down = loss(x)
    g[c] += h
    worst = max(worst, abs((up - down) / (2 * h) - dgamma[c]) / max(np.abs(dgamma).max(), 1e-3))
results = ranks.allgather((worst, same))
if ranks.rank == 0:
    print(ranks.size, *[v for pair in results for v in pair])
"""


@needs_mpi
def test_synchronised_batchnorm_gradients_match_central_differences_over_two_processes():
    """The input gradient on each rank and the summed gamma gradient against central differences
    of the loss over both ranks' rows, and each rank's outputs and input gradients against one
    process's on the whole batch: the statistics and the backward's two sums cross ranks."""
    out = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", SYNC_BATCHNORM_CHECK], capture_output=True,
                         text=True, timeout=120, env=_env())
    assert out.returncode == 0, out.stderr
    size, *errors = out.stdout.split()
    assert size == "2" and len(errors) == 4
    assert all(float(e) < 1e-6 for e in errors), out.stdout  # central differences; one process's values


@needs_mpi
def test_runs_that_cannot_be_split_are_refused_in_one_line(tmp_path):
    for extra, message in ((["--trainer", "mmd"], "does not run on several processes"),
                           (["--batch-size", "255"], "must split into 2 equal shards")):
        out = _npgan(2, "train", "--data", "ring8", "--steps", "2", "--out", str(tmp_path / "x"), *extra)
        assert out.returncode == 2 and out.stderr.count("npgan: error") == 1 and message in out.stderr, out.stderr
        assert not (tmp_path / "x" / "checkpoint.npz").exists()


def _ranks_of(mpiexec_pid) -> list:
    """The pids of the npgan processes mpiexec started, by their PMI_RANK."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = dict(v.split("=", 1) for v in (proc / "environ").read_bytes().decode(errors="replace").split("\0") if "=" in v)
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"npgan" in cmd and "PMI_RANK" in env and env.get("NPGAN_KILL_TEST") == str(mpiexec_pid):
            found[int(env["PMI_RANK"])] = int(proc.name)
    return [found[r] for r in sorted(found)]


@needs_mpi
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks through /proc")
def test_a_rank_killed_mid_run_ends_the_job_and_leaves_the_checkpoint_intact(tmp_path):
    token = str(os.getpid())
    env = {**_env(), "NPGAN_KILL_TEST": token}
    run = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "npgan", "train", "--data", "ring8",
                            "--steps", "100000", "--log-every", "20", "--no-progress", "--out", str(tmp_path / "run")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run" / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.2)
        ranks = _ranks_of(token)
        assert len(ranks) == 2 and (tmp_path / "run" / "checkpoint.npz").exists()
        os.kill(ranks[1], signal.SIGKILL)
        _, err = run.communicate(timeout=60)  # the job ends: no rank is left waiting
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoint.npz")  # whole, and a training state
    assert int(ckpt.state["step"]) % 20 == 0 and int(ckpt.state["step"]) > 0


@needs_mpi
def test_the_data_parallel_benchmark_times_each_number_of_processes(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.data_parallel", "--models", "ring8", "--steps", "2",
                          "--json", str(tmp_path / "dp.json")], capture_output=True, text=True, timeout=300,
                         env=_env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "dp.json").read_text())["rows"]
    assert [r["ranks"] for r in rows] == [1, 2]
    assert rows[0]["comm_ms"] == 0 < rows[1]["comm_ms"] < rows[1]["ms"]  # one process sends nothing
    assert rows[0]["mb"] == rows[1]["mb"] > 0


@needs_mpi
def test_an_interrupt_stops_every_rank_at_one_step_with_one_message(tmp_path):
    run = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "npgan", "train", "--data", "ring8",
                            "--steps", "100000", "--log-every", "20", "--no-progress", "--out", str(tmp_path / "run")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run" / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.2)
        run.send_signal(signal.SIGINT)  # mpiexec forwards it to every rank
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130
    ours = [line for line in err.splitlines() if line.startswith("npgan:")]
    assert len(ours) == 1 and "interrupted by SIGINT at step" in ours[0], err
    step = int(ours[0].split("at step ")[1].split(";")[0])
    assert int(read_checkpoint(tmp_path / "run" / "checkpoint.npz").state["step"]) == step


@needs_mpi
@pytest.mark.parametrize("options", [["--loss", "wasserstein", "--gp", "10"], ["--conditional"],
                                     ["--loss", "relativistic", "--pack", "2"], ["--r1", "1", "--d-steps", "3"]],
                         ids=["wgan-gp", "conditional", "relativistic-pack2", "r1-k3"])
def test_every_draw_is_sharded_alike(tmp_path, options):
    """Penalties' mixing weights, labels, packing, joint losses and k D steps: one process's run on two."""
    args = ["train", "--data", "ring8", "--dtype", "float64", "--seed", "0", "--steps", "10", "--batch-size", "128",
            "--log-every", "10", "--no-progress", *options]
    one, two = _npgan(1, *args, "--out", str(tmp_path / "one")), _npgan(2, *args, "--out", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert _max_relative_difference(tmp_path / "one", tmp_path / "two") < 1e-9
