"""Every array-module call npgan makes exists in CuPy, with the keywords it passes.

CuPy imports without a GPU (only allocating on a device fails), so this runs on every
machine where ``cupy-cuda12x`` is installed, CI included: a call that NumPy has and CuPy
lacks is caught before anyone runs npgan on a GPU.
"""

import ast
import os
import pathlib
import textwrap

import pytest
from array_api import missing, scan

import npgan

PKG = pathlib.Path(npgan.__file__).parent


@pytest.fixture(scope="module")
def cupy():
    try:
        import cupy as module
    except Exception as exc:  # noqa: BLE001 - any import failure means: not checkable here
        if os.environ.get("CI"):
            pytest.fail(f"CI must install cupy-cuda12x for this check ({type(exc).__name__}: {exc})")
        pytest.skip(f"CuPy is not importable ({type(exc).__name__}); pip install cupy-cuda12x")
    return module


def test_every_array_call_of_npgan_exists_in_cupy(cupy):
    uses = scan(PKG)
    chains = {".".join(u.chain) for u in uses.items if not u.on_array}
    # the scan is not vacuous: it sees the layers', the losses' and the backend's own calls
    assert {"lib.stride_tricks.as_strided", "einsum", "cuda.runtime.getDeviceCount",
            "cuda.Device().synchronize"} <= chains
    assert len(uses.items) > 100
    assert missing(uses, cupy, cupy.ndarray) == []


def _package(tmp_path, source):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(textwrap.dedent(source))
    return pkg


def test_the_check_catches_a_missing_attribute(cupy, tmp_path):
    """The synchronize that npgan once had: CuPy has no cuda.get_current_device."""
    pkg = _package(tmp_path, '''
        _state = {}
        def synchronize():
            _state["xp"].cuda.get_current_device().synchronize()
    ''')
    problems = missing(scan(pkg), cupy, cupy.ndarray)
    assert len(problems) == 1 and "get_current_device" in problems[0] and "mod.py:4" in problems[0]


def test_the_check_catches_unsupported_keywords_and_array_methods(cupy, tmp_path):
    pkg = _package(tmp_path, '''
        from npgan import backend as B
        def f(x):
            xp = B.get_backend()
            y = xp.repeat(x, 2, axis=0)                # fine
            z = xp.tile(x, reps=2, axis=0)             # tile has no axis
            x.setflags(write=False)                    # NumPy only
            return B.get_backend().maximum(y, 0, out=y, where=z)   # CuPy's ufuncs take no where
    ''')
    problems = missing(scan(pkg), cupy, cupy.ndarray)
    text = "\n".join(problems)
    assert "tile: no keyword axis" in text
    assert "setflags" in text
    assert "maximum: no keyword where" in text and "out" not in text.split("maximum")[1]
    assert "repeat" not in text


def test_the_array_module_is_always_called_xp():
    """The scan follows the name ``xp``: every variable bound to get_backend() has it."""
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                f = node.value.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if called in ("get_backend", "_begin"):
                    names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                    if names != ["xp"]:
                        wrong.append(f"{path.name}:{node.lineno} {names}")
    assert wrong == []
