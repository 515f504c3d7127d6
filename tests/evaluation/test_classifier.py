import numpy as np
import pytest

from helpers import synthetic_fashion
from npgan import backend as B
from npgan import runtime
from npgan.data import fashion_mnist
from npgan.evaluation import classifier


@pytest.fixture(scope="module")
def trained(tmp_path_factory, module_backend):
    """A classifier trained on synthetic Fashion-MNIST, once per backend."""
    folder = synthetic_fashion(tmp_path_factory.mktemp("fashion"))
    train, test = fashion_mnist("train", str(folder)), fashion_mnist("test", str(folder))
    clf = classifier.train(train, test, epochs=2, batch_size=32, lr=2e-3, progress=False, log=lambda m: None)
    return clf, train, test


def test_learns_the_synthetic_classes(trained):
    clf, _, test = trained
    assert clf.info["test_accuracy"] >= 0.9
    assert clf.accuracy(test.batch(np.arange(len(test))), test.labels) == clf.info["test_accuracy"]


def test_fd_separates_real_from_noise_and_coverage_sees_collapse(trained):
    clf, train, test = trained
    real = clf.evaluate(train.batch(np.arange(200)))
    noise = clf.evaluate(B.uniform((200, 1, 28, 28), -1.0, 1.0))
    assert real["fd"] < 0.1 * noise["fd"]
    assert real["classes_covered"] == 10 and real["class_coverage"] > 0.9
    one_class = train.batch(np.flatnonzero(train.labels == 3)[:50])
    collapsed = clf.evaluate(one_class)
    assert collapsed["classes_covered"] == 1 and collapsed["class_coverage"] < 0.15
    assert clf.info["floor_images"] == 200 and clf.info["fd_real_floor"] < 0.1 * noise["fd"]


def test_save_load_round_trip(trained, tmp_path):
    clf, train, _ = trained
    path = clf.save(tmp_path / "sub" / "clf.npz")
    again = classifier.Classifier.from_file(path)
    x = train.batch(np.arange(20))
    np.testing.assert_array_equal(B.to_numpy(again.features(x)), B.to_numpy(clf.features(x)))
    np.testing.assert_array_equal(again.real_stats[1], clf.real_stats[1])
    assert again.info == clf.info and again.classes == clf.classes


def test_clear_errors(trained, tmp_path):
    clf, _, _ = trained
    with pytest.raises(ValueError, match=r"Classifier: expected images of shape \(N, 1, 28, 28\), received \(2, 1, 8, 8\)"):
        clf.features(B.normal((2, 1, 8, 8)))
    with pytest.raises(FileNotFoundError, match="npgan train-classifier"):
        classifier.Classifier.from_file(tmp_path / "missing.npz")
    fresh = classifier.Classifier(classifier.build_network(), ["a"] * 10)
    with pytest.raises(RuntimeError, match="no reference statistics"):
        fresh.evaluate(B.normal((4, 1, 28, 28)))


def test_default_path_follows_npgan_home(monkeypatch, tmp_path):
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path))
    assert classifier.default_path() == str(tmp_path / "fashion-mnist-classifier.npz")


def test_trains_on_one_blas_thread_whatever_the_machine_allows(tmp_path, monkeypatch):
    """The instrument behind the FD is built with a fixed thread count (the rounding of a
    matrix product depends on it), inside the training loop and nowhere else."""
    from threadpoolctl import threadpool_info
    seen = []
    real_fit = classifier.fit

    def spy(*args, **kwargs):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(classifier, "fit", spy)
    folder = synthetic_fashion(tmp_path, n_train=64, n_test=32)
    train, test = fashion_mnist("train", str(folder)), fashion_mnist("test", str(folder))
    with runtime.limit_threads(2):
        classifier.train(train, test, epochs=1, batch_size=32, progress=False, log=lambda m: None)
        after = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert seen == [{1}]
    assert after == {2}
