"""The shape of the code: short functions, and imports that point down the layers. (That a
loss or a trainer is one registered class is shown by ``tests/gan/test_new_loss_and_trainer.py``, which adds
toy ones as the guide says; a layer, by ``tests/nn/test_new_layer.py``.)"""

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


# npgan's parts from the bottom up. A module may import its own part, any part of its own
# layer and any part of a lower layer; never one of a higher layer.
LAYERS = [
    {"backend"},                                            # arrays, dtype, random state
    {"io", "idx"},                                          # files
    {"kernels", "runtime", "comm"},                         # array kernels, process settings, ranks
    {"nn"},                                                 # layers with their backward passes
    {"losses", "optim", "gradcheck", "data", "training", "parallel"},  # what trains any network
    {"evaluation"},                                         # measures and figures of samples
    {"gan"},                                                # trainers, runs and what a run logs
    {"exercises"},                                          # graded backward passes to write
    {"cli", "__main__"},                                    # the command line
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _imported_parts(path: pathlib.Path, root: pathlib.Path):
    """(line, part of npgan) for every import of npgan in the file, at the top or in a function."""
    package = ["npgan", *path.relative_to(root).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            base += node.module.split(".") if node.module else []
            # `from npgan import nn` names a part; `from npgan.gan import runner` is in one
            targets = [base + [alias.name] for alias in node.names] if base == ["npgan"] else [base]
        else:
            continue
        for target in targets:
            if target[0] == "npgan" and len(target) > 1:
                yield node.lineno, target[1]


def _upward_imports(root: pathlib.Path):
    """(imports of a higher layer, parts in no layer) of the package whose folder is ``root``."""
    up, unplaced = [], set()
    for path in sorted(root.rglob("*.py")):
        if path == root / "__init__.py":
            continue
        part = path.relative_to(root).with_suffix("").parts[0]  # gan for gan/runner.py, data for data.py
        if part not in RANK:
            unplaced.add(part)
            continue
        for line, target in _imported_parts(path, root):
            if target not in RANK:
                unplaced.add(target)
            elif RANK[target] > RANK[part]:
                up.append(f"{path.relative_to(root.parent)}:{line} imports npgan.{target}, a layer above {part}")
    return up, sorted(unplaced)


def test_no_module_imports_one_of_a_higher_layer():
    """Each part of npgan sits in a layer (``LAYERS``, low to high): ``backend`` alone at the
    bottom (the only importer of NumPy and CuPy); the file formats ``io`` and ``idx`` on it;
    ``kernels``, ``runtime`` and ``comm`` (the communicators) next; ``nn``, the layers; then what trains any network
    (``losses``, ``optim``, ``gradcheck``, ``data``, ``training``); ``evaluation``, which measures
    samples and draws figures but reads no run config and trains no GAN (its classifier is
    trained with the layer below); ``gan``, the trainers and their runs, including what a run
    measures at each logging step (``gan.evaluators``); ``exercises``, graded with
    ``gradcheck``; and ``cli`` with ``__main__`` at the top. An arrow may point down, or
    sideways within a layer, never up, whether the import is at a module's top or inside a
    function: a lower part stays usable, and testable, without the parts above it. The package's
    own ``__init__`` gathers the public names of every part and is in no layer; a new part must
    be placed in one."""
    up, unplaced = _upward_imports(PKG)
    assert unplaced == [], "parts of npgan in no layer: add them to LAYERS"
    assert up == []


def test_the_layer_check_finds_upward_imports_anywhere_in_a_module(tmp_path):
    root = tmp_path / "npgan"
    (root / "evaluation").mkdir(parents=True)
    (root / "evaluation" / "metrics.py").write_text(
        "from .. import nn\nfrom ..gan.conditional import balanced_labels\n\n\n"
        "def f():\n    import npgan.cli\n    from . import plot\n")
    (root / "plugins.py").write_text("from . import backend\n")
    up, unplaced = _upward_imports(root)
    assert up == ["npgan/evaluation/metrics.py:2 imports npgan.gan, a layer above evaluation",
                  "npgan/evaluation/metrics.py:6 imports npgan.cli, a layer above evaluation"]
    assert unplaced == ["plugins"]
