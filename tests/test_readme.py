"""Every Python block of the README runs, in a fresh interpreter, and prints what the README shows.

A block followed by a ``text`` block must print it as its last lines: words exactly, numbers to
the digits shown (within half a unit of the last digit), except gradient-check errors below
1e-6, which are floating-point rounding noise and need only stay below 1e-6, and the figures of
a block whose code says ``# within N%``: figures from training, whose last digits follow the
CPU's floating-point kernels (a rounding difference grows over thousands of steps), so they
need only be within N% of the README's.

The blocks run under the machine's own BLAS kernels and, on x86-64, under OpenBLAS kernels
forced to other CPU generations (``OPENBLAS_CORETYPE``), so a README figure that holds on one
CPU only fails here, not on a reader's machine.
"""

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+(?:e[-+]?\d+)")


TOLERANCE = re.compile(r"#\s*within (\d+(?:\.\d+)?)%")
# AVX2 and AVX kernels: every x86-64 machine CI runs on has both, whatever kernel it picks itself
KERNELS = [None] + (["Haswell", "Sandybridge"] if platform.machine() in ("x86_64", "AMD64") else [])


def blocks():
    """(python source, expected text or None) for each Python block of the README."""
    found = re.findall(r"```python\n(.*?)```\n(?:\n```text\n(.*?)```)?", README.read_text(), flags=re.S)
    return [(code, text or None) for code, text in found]


def _same_number(shown: str, printed: str, relative: float = 0.0) -> bool:
    value, want = float(printed), float(shown)
    if "e-" in shown and want < 1e-6:  # rounding noise of a gradient check
        return abs(value) < 1e-6
    if relative:
        return abs(value - want) <= relative * abs(want)
    digits = len(shown.split("e")[0].split(".")[1]) if "." in shown else 0
    scale = 10 ** int(shown.split("e")[1]) if "e" in shown else 1
    return abs(value - want) <= 0.5 * 10 ** -digits * scale + 1e-12


def assert_prints(expected: str, output: str, relative: float = 0.0) -> None:
    want = expected.strip().splitlines()
    got = output.strip().splitlines()[-len(want):]
    assert len(got) == len(want), f"printed {output!r}"
    for w, g in zip(want, got):
        assert NUMBER.sub("#", w).split() == NUMBER.sub("#", g).split(), (w, g)
        for a, b in zip(NUMBER.findall(w), NUMBER.findall(g)):
            assert _same_number(a, b, relative), (w, g)


def test_the_readme_has_python_blocks_with_their_output():
    assert len(blocks()) >= 2 and sum(text is not None for _, text in blocks()) >= 2


def _cases():
    for index, (_, expected) in enumerate(blocks()):
        for kernel in KERNELS if expected is not None else [None]:
            yield pytest.param(index, kernel, id=f"{index}-{kernel or 'own kernels'}")


@pytest.mark.parametrize("index, kernel", list(_cases()))
def test_readme_block_runs_and_prints_what_the_readme_shows(index, kernel, tmp_path):
    code, expected = blocks()[index]
    env = {"PATH": "/usr/bin:/bin", "NPGAN_BACKEND": "numpy", "PYTHONPATH": str(README.parent)}
    if kernel:
        env["OPENBLAS_CORETYPE"] = kernel
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    if expected is not None:
        tolerance = TOLERANCE.search(code)
        assert_prints(expected, r.stdout, float(tolerance.group(1)) / 100 if tolerance else 0.0)


def test_the_comparison_has_teeth():
    assert_prints("d_loss 1.2502 err 2.61e-09", "d_loss 1.25024 err 7.3e-10")
    with pytest.raises(AssertionError):
        assert_prints("d_loss 1.2502", "d_loss 1.2509")
    with pytest.raises(AssertionError):
        assert_prints("err 2.61e-09", "err 3.0e-05")
    with pytest.raises(AssertionError):
        assert_prints("tensor weight", "tensor bias")
    assert_prints("g_grad_norm 0.2741", "g_grad_norm 0.2597", relative=0.1)
    with pytest.raises(AssertionError):
        assert_prints("g_grad_norm 0.2741", "g_grad_norm 0.2400", relative=0.1)
    assert TOLERANCE.search("print(x)   # within 10% on any CPU").group(1) == "10"
