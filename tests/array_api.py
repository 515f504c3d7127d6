"""Which array-module calls npgan's source makes, and whether an array module provides them.

The scanner reads the source (``ast``), so it sees every call whether or not a test runs
it: each attribute chain on the array module (``xp.lib.stride_tricks.as_strided``,
``B.get_backend().zeros_like``, the backend's own ``cupy.cuda.runtime.getDeviceCount``),
the keyword arguments each call passes, and the ndarray methods called on arrays with
their keywords. ``missing(uses, module)`` resolves them against a module (CuPy, where it
is installed: it imports without a GPU) and lists what it lacks.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
from dataclasses import dataclass, field

import numpy as np

HOST_ONLY = {"io.py", "idx.py", "plot.py"}  # modules that handle host NumPy arrays only
MODULE_NAMES = {"xp", "cupy"}               # local names bound to the array module
NOT_ARRAYS = {"B", "backend", "host", "np", "numpy", "json", "os", "math"}  # modules, not arrays


@dataclass(frozen=True)
class Use:
    chain: tuple            # ("lib", "stride_tricks", "as_strided"): attributes after the module
    keywords: tuple = ()    # keyword arguments of the call, if it is called
    where: str = ""         # file:line
    on_array: bool = False  # an ndarray method rather than a module attribute


@dataclass
class Uses:
    items: list = field(default_factory=list)

    def add(self, use: Use) -> None:
        self.items.append(use)


def _chain(node):
    """("a", "b", ...) of an attribute chain ``ROOT.a.b``, with the root node; a call in the
    middle (``ROOT.a().b``) is kept as "a()"."""
    parts = []
    while True:
        if _is_module_root(node):
            return tuple(reversed(parts)), node
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)) and parts:
            inner, root = _chain(node.func)
            return tuple(inner[:-1]) + (inner[-1] + "()",) + tuple(reversed(parts)) if inner else (), root
        else:
            return tuple(reversed(parts)), node


def _is_module_root(node) -> bool:
    """``xp``, ``cupy``, ``_state["xp"]``, or a call of ``get_backend()``."""
    if isinstance(node, ast.Name):
        return node.id in MODULE_NAMES
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value == "xp"
    if isinstance(node, ast.Call):
        f = node.func
        return (isinstance(f, ast.Attribute) and f.attr == "get_backend") or \
            (isinstance(f, ast.Name) and f.id == "get_backend")
    return False


ARRAY_METHODS = {n for n in dir(np.ndarray) if not n.startswith("_")}


def _mark_parents(tree) -> None:
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.Attribute):
                child._parent_attr = node


def scan(package_dir) -> Uses:
    """Every array-module use in the package's source."""
    root = pathlib.Path(package_dir).parent
    uses = Uses()
    for path in sorted(pathlib.Path(package_dir).rglob("*.py")):
        _scan_outermost(path, uses, root)
    return uses


def _scan_outermost(path, uses, root) -> None:
    """Record the outermost attribute of every chain (``xp.a.b``, not also ``xp.a``); the
    callee of a call inside a chain (``xp.a(...).b``) is a chain of its own, with its keywords."""
    tree = ast.parse(path.read_text(), filename=str(path))
    _mark_parents(tree)
    rel = str(path.relative_to(root))
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or isinstance(getattr(node, "_parent_attr", None), ast.Attribute):
            continue
        _record(node, calls, rel, path.name, uses)


def _record(node, calls, rel, filename, uses) -> None:
    chain, base = _chain(node)
    call = calls.get(id(node))
    kws = tuple(k.arg for k in call.keywords if k.arg) if call else ()
    where = f"{rel}:{node.lineno}"
    if chain and _is_module_root(base):
        uses.add(Use(chain, kws, where))
    elif filename not in HOST_ONLY and node.attr in ARRAY_METHODS and call is not None \
            and not (isinstance(base, ast.Name) and base.id in NOT_ARRAYS):
        uses.add(Use((node.attr,), kws, where, on_array=True))


# ---------------------------------------------------------------------------- resolving
def accepted_keywords(fn):
    """(names a call may pass as keywords, accepts **kwargs) for ``fn``, or None if unknown.

    From ``inspect.signature`` where it works, else from the first line of the docstring
    (CuPy's ufuncs and Cython methods write their signature there)."""
    try:
        sig = inspect.signature(fn)
        names = {p.name for p in sig.parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    except (TypeError, ValueError):
        pass
    first = (getattr(fn, "__doc__", None) or "").strip().split("\n")[0]
    m = re.search(r"\((.*)\)", first)
    if not m:
        return None
    params = m.group(1).replace("\\*", "*").replace("=*", "=None")
    try:
        args = ast.parse(f"def _({params}): pass").body[0].args
    except SyntaxError:
        return None
    names = {a.arg for a in args.args + args.kwonlyargs}
    return names, args.kwarg is not None


def resolve(module, chain, ndarray):
    """The object a chain names in ``module``, or raise AttributeError naming the first missing
    link. A call "f()" of a class continues on the class; of anything else, on ``ndarray``
    (what the array module's functions and an array's methods return)."""
    obj = module
    for part in chain:
        name = part[:-2] if part.endswith("()") else part
        if not hasattr(obj, name):
            raise AttributeError(f"{getattr(obj, '__name__', type(obj).__name__)} has no attribute {name!r}")
        obj = getattr(obj, name)
        if part.endswith("()") and not inspect.isclass(obj):
            obj = ndarray
    return obj


def missing(uses: Uses, module, ndarray) -> list:
    """Messages for every use ``module`` (and its ``ndarray`` type) cannot satisfy."""
    problems, seen = [], set()
    for use in uses.items:
        target = ndarray if use.on_array else module
        label = ("ndarray." if use.on_array else f"{module.__name__}.") + ".".join(use.chain)
        try:
            obj = resolve(target, use.chain, ndarray)
        except AttributeError as exc:
            if (use.where, str(exc)) not in seen:  # a chain and its inner call share a broken link
                seen.add((use.where, str(exc)))
                problems.append(f"{use.where}: {label}: {exc}")
            continue
        if not use.keywords:
            continue
        accepted = accepted_keywords(obj)
        if accepted is None:
            problems.append(f"{use.where}: {label}: cannot read its signature to check {use.keywords}")
            continue
        names, var_kw = accepted
        bad = [k for k in use.keywords if k not in names and not var_kw]
        if bad:
            problems.append(f"{use.where}: {label}: no keyword {', '.join(bad)}")
    return problems
