"""A small image classifier trained with npgan itself: the feature space of npgan's Frechet distance.

The FID (Heusel et al. 2017) compares real and generated images in the feature
space of an Inception network trained on ImageNet. npgan has no such network and
downloads nothing, so it trains its own: a two-convolution classifier on
Fashion-MNIST, small enough to train in two epochs on a CPU, built from npgan's
layers and trained with npgan's Adam and softmax cross-entropy. Its 128 penultimate activations are the features
(``Classifier.features``); its predicted labels give the class coverage of a
generator (``npgan.evaluation.metrics.class_coverage``).

    x (N, 1, 28, 28) -> Conv(1 -> 32, k4 s2 p1) -> LeakyReLU -> 14x14
      -> Conv(32 -> 64, k4 s2 p1) -> LeakyReLU -> 7x7 -> Flatten
      -> Dense(3136 -> 128) -> ReLU            (the features)
      -> Dense(128 -> 10)                     (class logits)

``npgan train-classifier`` trains it and writes its weights, with its test
accuracy and the real data's feature statistics, to one ``.npz`` (by default
``~/.cache/npgan/fashion-mnist-classifier.npz``, or under ``$NPGAN_HOME``).
"""

from __future__ import annotations

import json
import math
import os

from .. import backend as B
from .. import nn, runtime
from ..io import check_writable, load_npz, save_npz
from ..losses import softmax_cross_entropy
from ..optim import Adam
from ..training import fit
from .metrics import class_coverage, feature_stats, frechet_distance, label_accuracy

FEATURES = 128


def default_path() -> str:
    """Where ``npgan train-classifier`` writes, and ``npgan train`` looks, by default."""
    home = os.environ.get("NPGAN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "npgan")
    return os.path.join(home, "fashion-mnist-classifier.npz")


def check_output(path) -> None:
    """Refuse, before training, a path the classifier cannot be written to, or a file there that
    is not a classifier (a run's checkpoint, say): retraining replaces only a classifier."""
    check_writable(path)
    if os.path.exists(path):
        try:
            state = load_npz(path)
        except (OSError, ValueError):
            state = {}
        if "meta" not in state or "config" in state:
            raise FileExistsError(f"{path} exists and is not a classifier file; choose another --out "
                                  f"(only a classifier is replaced)")


def build_network(n_classes: int = 10, in_shape=(1, 28, 28), width: int = 32) -> nn.Sequential:
    """The classifier network (initialised from npgan's seeded generator)."""
    c, h, w = in_shape
    if h % 4 or w % 4:
        raise ValueError(f"classifier: image sides must be multiples of 4, got {h}x{w}")
    flat = 2 * width * (h // 4) * (w // 4)
    return nn.Sequential(
        nn.Conv2D(c, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2D(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
        nn.Dense(flat, FEATURES), nn.ReLU(),
        nn.Dense(FEATURES, n_classes))


class Classifier:
    """The network plus what makes it a metric: class names, test accuracy, real feature stats."""

    def __init__(self, network: nn.Sequential, classes=(), in_shape=(1, 28, 28), info=None):
        self.network = network
        self.classes = tuple(classes)
        self.in_shape = tuple(in_shape)
        self.info = dict(info or {})      # e.g. test accuracy, data set, epochs
        self.real_stats = None            # (mean, cov) of the real test images' features

    # -- inference (eval mode, in batches so memory stays flat) ---------------
    def _batches(self, x, batch_size):
        for i in range(0, x.shape[0], batch_size):
            yield x[i:i + batch_size]

    def _check(self, x):
        B.check_array(x, "Classifier", ndim=4)
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"Classifier: expected images of shape (N, {', '.join(map(str, self.in_shape))}), "
                             f"received {tuple(x.shape)}")

    def features(self, x, batch_size: int = 500):
        """Penultimate activations (N, 128) of images x (N, C, H, W) in [-1, 1]."""
        self._check(x)
        xp = B.get_backend()
        body = self.network.layers[:-1]
        out = []
        for xb in self._batches(x, batch_size):
            for layer in body:
                xb = layer.forward(xb, training=False)
            out.append(xb)
        return xp.concatenate(out, axis=0)

    def logits_from_features(self, feats):
        return self.network.layers[-1].forward(feats, training=False)

    def predict(self, x, batch_size: int = 500):
        """Predicted class labels (N,)."""
        return self.logits_from_features(self.features(x, batch_size)).argmax(axis=1)

    def accuracy(self, x, labels, batch_size: int = 500) -> float:
        pred = B.to_numpy(self.predict(x, batch_size))
        return float((pred == B.to_numpy(labels)).mean())

    # -- the metrics ----------------------------------------------------------
    def set_reference(self, images) -> None:
        """Store the feature statistics of real images (the FD's reference)."""
        self.real_stats = feature_stats(self.features(images))

    def evaluate(self, generated, labels=None) -> dict:
        """Frechet distance to the reference and class coverage of generated images; with the
        ``labels`` they were drawn for (a conditional generator), the label accuracy too."""
        return self.evaluate_features(self.features(generated), labels)

    def evaluate_features(self, feats, labels=None) -> dict:
        """``evaluate`` for generated images given by their features (N, 128)."""
        if self.real_stats is None:
            raise RuntimeError("Classifier.evaluate: no reference statistics; call set_reference first")
        out = {"fd": frechet_distance(self.real_stats, feature_stats(feats))}
        predicted = self.logits_from_features(feats).argmax(axis=1)
        k = len(self.classes) or int(self.network.layers[-1].out_features)
        out.update(class_coverage(predicted, k))
        if labels is not None:
            out.update(label_accuracy(predicted, labels, k))
        return out

    def real_floor(self, dataset, n: int) -> float:
        """The Frechet distance of n real images from ``dataset`` to the reference: what a perfect
        generator would score at this sample size (the estimate is biased upwards for small n)."""
        return self.evaluate(dataset.batch(B.permutation(len(dataset))[:n]))["fd"]

    # -- files ----------------------------------------------------------------
    def save(self, path) -> str:
        """Weights, metadata and reference statistics in one ``.npz`` (written atomically)."""
        state = {f"net.{k}": v for k, v in self.network.state_dict().items()}
        meta = {"classes": list(self.classes), "in_shape": list(self.in_shape), "info": self.info}
        state["meta"] = B.host.asarray(json.dumps(meta))
        if self.real_stats is not None:
            state["real_mean"], state["real_cov"] = self.real_stats
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        return save_npz(path, state)

    @classmethod
    def from_file(cls, path) -> "Classifier":
        """The classifier saved in ``path`` by ``save``."""
        try:
            state = load_npz(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"no classifier at {path}; train one with: npgan train-classifier "
                                    f"--out {path}") from None
        if "meta" not in state:
            raise KeyError(f"{path}: not a classifier file (missing key 'meta')")
        meta = json.loads(str(state["meta"]))
        with B.preserved_rng():  # initial weights are overwritten: drawing them must not shift the RNG
            net = build_network(len(meta["classes"]), tuple(meta["in_shape"]))
        net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        clf = cls(net, meta["classes"], meta["in_shape"], meta["info"])
        if "real_mean" in state:
            clf.real_stats = (state["real_mean"].astype(B.host.float64),
                              state["real_cov"].astype(B.host.float64))
        return clf


def train(train_data, test_data, epochs: int = 2, batch_size: int = 128, lr: float = 1e-3,
          seed: int = 0, progress: bool = True, log=print, threads: int | None = 1) -> Classifier:
    """Train the classifier on ``train_data`` (an ``npgan.data.ImageData``); test on ``test_data``.

    A measuring instrument: ``threads`` = 1 BLAS thread by default, so a machine builds the
    same one busy or quiet (a matrix product's rounding depends on how many threads share it,
    and the trained weights with it). ``None``: the current thread setting.

    Adam with the learning rate decayed linearly to 0 (``npgan.training.fit``); each epoch
    visits every training image once in a seeded random order. Reference statistics are
    taken from the test images (real images the generator never trained on).
    """
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"classifier: epochs must be >= 1 and batch_size >= 2, got {epochs}, {batch_size}")
    if not (0 < lr < float("inf")):
        raise ValueError(f"classifier: lr must be a positive number, got {lr}")
    B.seed(seed)
    n_classes = len(train_data.classes) or int(B.host.max(train_data.labels)) + 1
    net = build_network(n_classes, train_data.shape)
    clf = Classifier(net, train_data.classes, train_data.shape)
    n = len(train_data)
    per_epoch = math.ceil(n / batch_size)
    test_images = test_data.batch(B.host.arange(len(test_data)))
    order = {}

    def step_fn(step):
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            order["idx"] = B.permutation(n)
        idx = order["idx"][i * batch_size:(i + 1) * batch_size]
        net.zero_grad()
        loss, g = softmax_cross_entropy(net.forward(train_data.batch(idx), training=True),
                                        B.asarray(train_data.labels[idx].astype(B.host.int64)))
        net.backward(g)
        opt.step()
        return {"loss": loss}

    def on_epoch(step, record):
        clf.info["test_accuracy"] = acc = clf.accuracy(test_images, test_data.labels)
        log(f"epoch {step // per_epoch}/{epochs}: train loss {record['loss']:.4f}, test accuracy {acc:.4f}")
        return {"loss": f"{record['loss']:.3f}"}

    opt = Adam(net.parameters(), lr=lr)
    with runtime.limit_threads(threads):
        fit(step_fn, [opt], lr=lr, total=epochs * per_epoch, log_every=per_epoch, on_log=on_epoch,
            progress="classifier" if progress else None)
    clf.info.update(data=train_data.name, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                    train_images=n, test_images=len(test_data))
    return _with_reference(clf, train_data, test_images, log)


def _with_reference(clf: Classifier, train_data, test_images, log) -> Classifier:
    """Set the test images as the FD reference, and the floor a perfect generator would reach
    (as many real training images against that reference)."""
    clf.set_reference(test_images)
    m = min(len(test_images), len(train_data))
    floor = clf.real_floor(train_data, m)
    clf.info.update(fd_real_floor=floor, floor_images=m)
    log(f"Frechet distance of {m} real training images to the test reference: {floor:.3f}")
    return clf
