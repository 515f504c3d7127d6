"""The shape of the code: short functions. (That a loss or a trainer is one registered class is
shown by ``tests/gan/test_extending.py``, which adds toy ones as the guide says.)"""

import ast
import pathlib

import npgan

PKG = pathlib.Path(npgan.__file__).parent
MAX_LINES = 50


def _code_lines(node) -> int:
    """A function's length without its docstring: a derivation may be as long as it needs."""
    n = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= first.end_lineno - first.lineno + 1
    return n


def test_no_function_in_the_package_is_longer_than_50_lines():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(node)
                if n > MAX_LINES:
                    long.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert long == []
