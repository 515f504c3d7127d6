"""The benchmark scripts run (a smoke test on the smallest model; no timing is asserted)."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_time_ab_alternates_blocks_and_returns_each_median():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common import time_ab
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    calls = []
    ta, tb = time_ab(lambda: (calls.append("a"), time.sleep(0.004)),
                     lambda: (calls.append("b"), time.sleep(0.001)), repeat=4, warmup=1, rounds=2)
    # warm-up pair, then per round: one untimed call and 2 timed ones of each
    assert calls == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 2
    assert ta > tb >= 0.001


def test_iteration_benchmark_runs_on_toy2d():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "iteration.py"), "--models", "toy2d",
                          "--repeat", "2", "--threads", "1", "--backends", "numpy"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("toy2d")]
    assert len(rows) == 1 and rows[0][1] == "512" and float(rows[0][3]) > 0


def test_mode_profile_splits_tails_from_between_mode_samples():
    import numpy as np
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from mode_profile import profile
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    modes, std = np.array([[0.0, 0.0], [1.0, 0.0]]), 0.01
    on_mode = np.repeat(modes, 40, axis=0)                      # 80 samples at distance 0
    tails = np.array([[0.04, 0.0]] * 10)                        # 4 std from mode 0
    bridge = np.array([[0.5, 0.0]] * 10)                        # 50 std from both
    r = profile(np.concatenate([on_mode, tails, bridge]), modes, std)
    assert r["high_quality"] == 0.8 and r["tails_3_6"] == 0.1 and r["between_6plus"] == 0.1
    assert np.isclose(r["spread"], np.sqrt(10 * 16 / 90 / 2))  # rms over the 90 near-mode samples
