"""Built-in data sets, generated on the fly from npgan's seeded generator (nothing is downloaded).

=============  ==========================================================  ======
name           distribution                                                modes
=============  ==========================================================  ======
``gauss1d``    N(4, 0.5^2): the 1-D toy of Goodfellow et al. (2014)        1
``ring8``      8 Gaussians, means on the unit circle, std 0.01             8
               (the ring of VEEGAN and PacGAN)
``grid25``     25 Gaussians, means on {-4, -2, 0, 2, 4}^2, std 0.05        25
               (the grid of VEEGAN and PacGAN)
``bimodal1d``  0.5 N(-2, 0.3^2) + 0.5 N(2, 0.3^2): the smallest case of     2
               mode collapse, and a p_data whose optimal D* is interesting
=============  ==========================================================  ======

Image sets are read from local files (``fashion-mnist``, from the Debian
package ``dataset-fashion-mnist``); nothing is ever downloaded.

Every set draws samples as arrays of the current backend and dtype, shaped
(n, dim), and knows its density where it has one (for the 1-D figures).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from statistics import NormalDist

from . import backend as B
from .idx import read_idx


@dataclass(frozen=True)
class MixtureData:
    """An equal-weight mixture of isotropic Gaussians with the given means and std."""

    name: str
    means: tuple  # tuple of tuples, one per mode
    std: float

    @property
    def dim(self) -> int:
        return len(self.means[0])

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def modes(self):
        """The mode centres as a host array (n_modes, dim)."""
        return B.host.asarray(self.means, dtype=B.host.float64)

    num_classes = n_modes  # each mode is a class, for conditional generation

    def sample(self, n: int):
        """n samples, (n, dim), in the current backend and dtype."""
        return self.sample_labeled(n)[0]

    def sample_labeled(self, n: int):
        """(n samples, their modes as host integer labels (n,))."""
        if n < 1:
            raise ValueError(f"{self.name}: n must be positive, got {n}")
        which = B.integers(0, self.n_modes, n)
        centres = B.asarray(self.modes()[which])
        return centres + B.normal((n, self.dim), 0.0, self.std), which

    @property
    def fingerprint(self) -> str:
        """A hash of the definition (name, means, std): what a run trained on this set saw."""
        return _digest(repr((self.name, self.means, self.std)).encode())

    def density(self, x):
        """p_data(x) for 1-D sets, evaluated on a host array of points."""
        if self.dim != 1:
            raise ValueError(f"{self.name}: density is provided for 1-D data only")
        x = B.host.asarray(x, dtype=B.host.float64)
        norm = 1.0 / (self.std * math.sqrt(2 * math.pi) * self.n_modes)
        return sum(norm * B.host.exp(-0.5 * ((x - m[0]) / self.std) ** 2) for m in self.means)

    def cdf_inverse(self, u):
        """F^-1(u) for the single-Gaussian 1-D set (the generator's ideal transform of noise)."""
        if self.dim != 1 or self.n_modes != 1:
            raise ValueError(f"{self.name}: inverse CDF is provided for a single 1-D Gaussian only")
        nd = NormalDist(self.means[0][0], self.std)
        return B.host.vectorize(nd.inv_cdf)(B.host.clip(B.host.asarray(u, dtype=float), 1e-12, 1 - 1e-12))


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def _ring(k=8, radius=1.0):
    return tuple((radius * math.cos(2 * math.pi * i / k), radius * math.sin(2 * math.pi * i / k))
                 for i in range(k))


DATASETS = {
    "gauss1d": MixtureData("gauss1d", ((4.0,),), 0.5),
    "bimodal1d": MixtureData("bimodal1d", ((-2.0,), (2.0,)), 0.3),
    "ring8": MixtureData("ring8", _ring(), 0.01),
    "grid25": MixtureData("grid25", tuple((float(a), float(b)) for a in range(-4, 5, 2)
                                          for b in range(-4, 5, 2)), 0.05),
}


def names() -> list:
    """Every data set ``get_dataset`` knows: the generated mixtures, then the image sets."""
    return sorted(DATASETS) + sorted(IMAGE_DATASETS)


def is_image(name: str) -> bool:
    return name in IMAGE_DATASETS


def check_name(name: str) -> str:
    """``name`` if it is a data set; a ``ValueError`` listing the names otherwise."""
    if name not in DATASETS and name not in IMAGE_DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(names())}")
    return name


def get_dataset(name: str, directory=None, split: str = "train"):
    """The data set called ``name``: a generated ``MixtureData``, or an ``ImageData`` read from
    ``directory`` (image sets only; default: the set's usual location)."""
    check_name(name)
    if name in DATASETS:
        return DATASETS[name]
    return IMAGE_DATASETS[name](split, directory)


# ----------------------------------------------------------------------------- images
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
FASHION_MNIST_ENV = "NPGAN_FASHION_MNIST"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


class ImageData:
    """Images as (N, C, H, W) floats scaled to [-1, 1] (a Tanh generator's range), with labels."""

    def __init__(self, name: str, images_uint8, labels, classes=()):
        self.name = name
        x = B.host.asarray(images_uint8)
        if x.ndim == 3:
            x = x[:, None]
        self.images = x  # host uint8, converted per batch: 4x less memory than float32
        self.labels = B.host.asarray(labels)
        self.classes = tuple(classes)

    @property
    def shape(self):
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    @staticmethod
    def to_float(x_uint8):
        """uint8 [0, 255] -> current backend and dtype, [-1, 1]."""
        return B.asarray(x_uint8, dtype=B.get_dtype()) * (2.0 / 255.0) - 1.0

    def batch(self, index):
        """Images at host ``index`` (array of ints), in the current backend and dtype."""
        return self.to_float(self.images[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes) or int(self.labels.max()) + 1

    @property
    def fingerprint(self) -> str:
        """A hash of every pixel and label (computed once): a run's checkpoint records it, so a
        run is never continued or evaluated on other images than it was trained on."""
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = _digest(repr((self.name, self.images.shape)).encode(),
                                        self.images.tobytes(), self.labels.tobytes())
        return self._fingerprint

    def sample(self, n: int):
        """n images drawn uniformly with replacement (from npgan's seeded generator)."""
        return self.sample_labeled(n)[0]

    def sample_labeled(self, n: int):
        """(n images, their host integer labels (n,)), drawn uniformly with replacement."""
        index = B.integers(0, len(self), n)
        return self.batch(index), self.labels[index].astype(B.host.int64)


def image_dir(directory=None) -> str:
    """Where an image set's files are looked up, as an absolute path: ``directory``, else
    ``$NPGAN_FASHION_MNIST``, else the Debian package's folder. A run records it when it starts,
    so resuming, sampling or evaluating it reads the same files from any working directory."""
    return os.path.abspath(directory or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR)


def fashion_mnist(split: str = "train", directory=None) -> ImageData:
    """Fashion-MNIST (Xiao et al. 2017): 28x28 greyscale garments, 10 classes.

    Looked up in ``directory``, else ``$NPGAN_FASHION_MNIST``, else the Debian package's
    folder ``/usr/share/datasets/fashion-mnist``. Files are the original IDX files,
    gzip-compressed or not.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = image_dir(directory)
    prefix = "train" if split == "train" else "t10k"
    found = {}
    for kind, stem in (("images", f"{prefix}-images-idx3-ubyte"), ("labels", f"{prefix}-labels-idx1-ubyte")):
        paths = [os.path.join(directory, stem + ext) for ext in (".gz", "")]
        path = next((p for p in paths if os.path.isfile(p)), None)
        if path is None:
            raise FileNotFoundError(
                f"Fashion-MNIST {split} {kind} not found in {directory} (looked for {stem}[.gz]); "
                f"install the Debian package: apt-get install dataset-fashion-mnist, or point "
                f"${FASHION_MNIST_ENV} / --data-dir at a folder holding the IDX files")
        found[kind] = read_idx(path)
        _check_idx(found[kind], path, kind)
    if len(found["images"]) != len(found["labels"]):
        raise ValueError(f"Fashion-MNIST in {directory}: {len(found['images'])} images but "
                         f"{len(found['labels'])} labels")
    return ImageData("fashion-mnist", found["images"], found["labels"], FASHION_MNIST_CLASSES)


def _check_idx(array, path, kind: str) -> None:
    """Fashion-MNIST's files hold bytes: images (N, 28, 28) in [0, 255], labels (N,) in 0..9. Any
    other type would be scaled wrongly to [-1, 1] (or give classes that do not exist): refused."""
    shape = "(N, 28, 28)" if kind == "images" else "(N,)"
    ok_shape = array.shape[1:] == (28, 28) if kind == "images" else array.ndim == 1
    if array.dtype != B.host.uint8 or not ok_shape:
        raise ValueError(f"{path}: expected unsigned bytes shaped {shape} as in Fashion-MNIST, got "
                         f"{array.dtype} {tuple(array.shape)}")
    if kind == "labels" and array.size and int(array.max()) >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{path}: label {int(array.max())} is not one of Fashion-MNIST's classes 0..9")


IMAGE_DATASETS = {"fashion-mnist": fashion_mnist}  # name -> loader(split, directory)
