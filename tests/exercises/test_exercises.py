"""``npgan exercise``: every worked solution passes, every skeleton is "not written yet", every mistake an
exercise declares is recognised with its hint, and files that do not load end in one line, exit 2."""

import pytest

from npgan import exercises as X
from npgan.cli import main
from npgan.exercises.exercise import TODO

REQUIRED = {"dense", "relu", "leaky_relu", "sigmoid", "sigmoid_cross_entropy", "conv2d", "conv_transpose2d",
            "batchnorm", "layernorm", "non_saturating", "wgan_gp"}
NAMES = sorted(X.EXERCISES)
MISTAKES = [(name, m) for name in NAMES for m in X.EXERCISES[name].mistakes]


def _check(capsys, name, path):
    capsys.readouterr()
    status = main(["exercise", "check", name, str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_required_exercises_are_there():
    assert REQUIRED <= set(X.EXERCISES)


@pytest.mark.parametrize("name", NAMES)
def test_the_worked_solution_passes(tmp_path, capsys, name):
    assert main(["exercise", "solution", name, str(tmp_path)]) == 0
    path = tmp_path / f"{name}.py"
    assert path.read_text() == X.EXERCISES[name].solution
    status, out, _ = _check(capsys, name, path)
    assert status == 0, out
    assert out.startswith(f"{name}: PASS") and len(out.splitlines()) == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_skeleton_is_not_written_yet(tmp_path, capsys, name):
    assert main(["exercise", "start", name, str(tmp_path)]) == 0
    assert f"npgan exercise check {name}" in capsys.readouterr().out
    path = tmp_path / f"{name}.py"
    status, out, _ = _check(capsys, name, path)
    assert status == 1 and "not written yet" in out and X.EXERCISES[name].backward in out


@pytest.mark.parametrize("name", NAMES)
def test_skeleton_and_solution_differ_only_in_the_backward_body(name):
    ex = X.EXERCISES[name]
    skeleton, solution = ex.skeleton.splitlines(), ex.solution.splitlines()
    begin = next(i for i, line in enumerate(solution) if "# --- your code" in line)
    end = next(i for i, line in enumerate(solution) if "# --- end of your code ---" in line)
    assert skeleton[:begin + 1] == solution[:begin + 1]
    assert skeleton[begin + 2:] == solution[end:]
    assert skeleton[begin + 1].strip() == TODO
    assert f"def {ex.forward}(" in ex.skeleton and f"def {ex.backward}(" in ex.skeleton
    assert "import numpy as np" in ex.skeleton and '"""' in ex.skeleton.split("\n", 1)[0]  # a docstring first


@pytest.mark.parametrize("name,mistake", MISTAKES, ids=[f"{n}-{m.key}" for n, m in MISTAKES])
def test_each_declared_mistake_is_recognised(tmp_path, capsys, name, mistake):
    path = tmp_path / f"{name}.py"
    path.write_text(X.EXERCISES[name].edited(mistake.example))
    status, out, _ = _check(capsys, name, path)
    assert status == 1, out
    assert out.startswith(f"{name}: FAIL in case 1 of ") and "wrong:" in out
    hints = [line.strip() for line in out.splitlines() if "hint (" in line]
    assert hints and all(h.startswith(f"hint ({mistake.key}):") for h in hints), out


def test_the_report_names_the_tensor_the_index_and_both_values(tmp_path, capsys):
    path = tmp_path / "dense.py"
    path.write_text(X.EXERCISES["dense"].edited([("dW = x.T @ dout", "dW = 1.5 * x.T @ dout")]))  # no known mistake
    status, out, _ = _check(capsys, "dense", path)
    assert status == 1
    lines = out.splitlines()
    assert any(line.split()[:2] == ["dx", "ok"] for line in lines)
    wrong = [line for line in lines if line.split()[:2] == ["dW", "wrong:"]]
    assert wrong and "worst at index (" in wrong[0] and "expected " in wrong[0] and "received " in wrong[0]
    assert "hint (" not in out


def test_a_backward_that_raises_or_returns_too_little_is_wrong_not_broken(tmp_path, capsys):
    path = tmp_path / "dense.py"
    path.write_text(X.EXERCISES["dense"].edited([("np.sum(dout, axis=0)", "np.sum(dout, axis=2)")]))  # no axis 2
    status, out, _ = _check(capsys, "dense", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "axis=2" in text)
    assert status == 1 and "dense_backward() raised AxisError" in out and f"(line {line} of {path})" in out
    path.write_text(X.EXERCISES["dense"].edited([("return dx, dW, db", "return dx, dW")]))
    status, out, _ = _check(capsys, "dense", path)
    assert status == 1 and "returned 2 values; expected 3: dx, dW, db" in out


def test_a_changed_forward_is_said(tmp_path, capsys):
    path = tmp_path / "relu.txt"  # any file name: it is read as Python
    path.write_text(X.EXERCISES["relu"].edited([("out = np.maximum(0, x)", "out = np.maximum(0.1, x)")]))
    status, out, _ = _check(capsys, "relu", path)
    assert status == 1 and "relu_forward() was changed" in out
    path.write_text(X.EXERCISES["relu"].edited([("cache = x\n", "cache = x\n    raise NotImplementedError\n")]))
    status, out, _ = _check(capsys, "relu", path)
    assert status == 1 and "relu_forward() raised NotImplementedError" in out


@pytest.mark.parametrize("text,message", [
    ("def relu_forward(x:\n", "does not load: SyntaxError at line 1"),
    ("import no_such_module_here\n", "does not load: ModuleNotFoundError"),
    ("def relu_forward(x):\n    return x, x\n", "has no function relu_backward()"),
])
def test_a_file_that_does_not_load_exits_2_with_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "relu.py"
    path.write_text(text)
    status, out, err = _check(capsys, "relu", path)
    assert status == 2 and out == ""
    assert err.startswith("npgan: error: ") and message in err and len(err.splitlines()) == 1


def test_a_missing_file_or_an_unknown_exercise_exits_2(tmp_path, capsys):
    status, _, err = _check(capsys, "relu", tmp_path / "nope.py")
    assert status == 2 and "no such file" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit, match="2"):  # argparse's own exit, one line too
        main(["exercise", "check", "softmax", str(tmp_path / "nope.py")])
    assert "invalid choice: 'softmax'" in capsys.readouterr().err


def test_list_names_every_exercise_one_a_line(capsys):
    assert main(["exercise", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(X.EXERCISES)
    assert all(len(line.split()) > 2 for line in lines)  # a description after the name


def test_start_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    path = tmp_path / "dense.py"
    path.write_text("my work")
    for action in ("start", "solution"):
        assert main(["exercise", action, "dense", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("npgan: error: ") and "--force" in err and len(err.splitlines()) == 1
        assert path.read_text() == "my work"
    assert main(["exercise", "start", "dense", str(tmp_path), "--force"]) == 0
    assert path.read_text() == X.EXERCISES["dense"].skeleton
    (tmp_path / "file").write_text("")
    assert main(["exercise", "start", "dense", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_every_example_edit_applies_once_and_an_ambiguous_one_is_refused():
    for name, mistake in MISTAKES:
        assert X.EXERCISES[name].edited(mistake.example) != X.EXERCISES[name].solution
    with pytest.raises(ValueError, match="occurs 0 times"):
        X.EXERCISES["dense"].edited([("no such text", "")])
