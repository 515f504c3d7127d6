"""Where one training iteration's time goes, per layer and per optimiser step, on NumPy or CuPy.

    python -m benchmarks.profile_step [--model dcgan28] [--batch 256] [--backend numpy|cupy] [--repeat 10]

(from the repository root). The iteration is ``benchmarks.iteration``'s (Algorithm 1 with k = 1, Adam). Every
layer's forward and backward and each optimiser's step is timed with two clocks:

* host ms: the wall time of the Python call. On a GPU this only queues the work
  (CuPy's argument handling and kernel launches; nothing synchronises inside a step);
* device ms: on a GPU, the time between CUDA events recorded before and after the call:
  the work it queued, plus any time the device sat idle waiting for the host to queue
  more. On a CPU it is host ms.

A part whose device time is close to its host time is bound by its launches (fewer,
fused kernels help); one whose device time is well above its host time is bound by the
work itself (a better kernel helps). Each row sums a part's calls within one iteration
(D's layers run three times: on real data, on fakes, and in the generator's step),
averaged over ``--repeat`` iterations, largest device time first. "whole iteration" is
the synchronised wall time, averaged alike, clocks included; the difference to the parts' sum is the
losses, the noise draws and the trainer's own code.

A second table lists the iteration's matrix products (``benchmarks.iteration.matrix_products``:
each layer's forward, weight-gradient and input-gradient product, with how often it runs),
each timed alone on contiguous operands of its shape, best of several, and their sum: the
time the iteration would take if nothing but its products ran, at the speed BLAS reaches
on them alone. One minus its share of the whole iteration is the share spent outside the
matrix products (im2col and col2im, normalisation, activations, the optimiser, copies,
Python); inside an iteration a product's operands come from memory rather than cache, so
the products' real share is somewhat larger and this share outside somewhat smaller.
"""

import time
from collections import defaultdict

from .common import gpu_info, header_line, layer_timing_arguments
from .iteration import MODELS, matrix_products, npgan_trainer


class Clocks:
    """Wraps methods of objects with a host clock and, on a GPU, a pair of CUDA events."""

    def __init__(self, cupy=None):
        self.cupy = cupy
        self.host, self.device, self.calls = defaultdict(float), defaultdict(float), defaultdict(int)
        self._events = []

    def wrap(self, obj, method: str, key: tuple) -> None:
        fn = getattr(obj, method)

        def timed(*args, **kwargs):
            if self.cupy is not None:
                start = self.cupy.cuda.Event()
                start.record()
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            elapsed = time.perf_counter() - t0
            self.host[key] += elapsed
            self.calls[key] += 1
            if self.cupy is None:
                self.device[key] += elapsed
            else:
                end = self.cupy.cuda.Event()
                end.record()
                self._events.append((key, start, end))
            return result

        object.__setattr__(obj, method, timed)  # an instance attribute: shadows the class's method

    def collect(self) -> None:
        """Read the CUDA events of the calls so far (after a synchronisation)."""
        for key, start, end in self._events:
            self.device[key] += self.cupy.cuda.get_elapsed_time(start, end) / 1e3
        self._events.clear()


def wrap_trainer(clocks: Clocks, trainer) -> None:
    for net, model in (("G", trainer.generator), ("D", trainer.discriminator)):
        for i, layer in enumerate(model.layers):
            for phase in ("forward", "backward"):
                clocks.wrap(layer, phase, (net, i, type(layer).__name__, phase))
    clocks.wrap(trainer.g_opt, "step", ("G", None, type(trainer.g_opt).__name__, "step"))
    clocks.wrap(trainer.d_opt, "step", ("D", None, type(trainer.d_opt).__name__, "step"))


def main(argv=None):
    args, allocator = layer_timing_arguments(__doc__, argv, models=MODELS, batch=256, repeat=10)

    from npgan import backend as B
    trainer, real = npgan_trainer(args.model, args.batch, args.backend)
    for _ in range(3):  # warm-up: CuPy compiles its kernels, the pools fill
        trainer.train_step(real)
    B.synchronize()
    cupy = None
    if args.backend == "cupy":
        import cupy
    clocks = Clocks(cupy)
    wrap_trainer(clocks, trainer)
    whole = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        trainer.train_step(real)
        B.synchronize()
        whole.append(time.perf_counter() - t0)
        if cupy is not None:
            clocks.collect()
    n = args.repeat
    print("# " + header_line(f"backend {args.backend}", f"{args.model}, batch {args.batch}", "float32",
                             gpu_info()["gpu"] if cupy is not None else "", threads=args.threads, allocator=allocator))
    print(f"{'part':<34}{'calls':>6}{'host ms':>10}{'device ms':>11}{'share':>8}")
    it = sum(whole) / n * 1e3  # a mean, as the parts' are
    for key in sorted(clocks.calls, key=lambda k: -clocks.device[k]):
        net, i, cls, phase = key
        name = f"{net}.{i} {cls} {phase}" if i is not None else f"{net} {cls} {phase}"
        dev = clocks.device[key] / n * 1e3
        print(f"{name:<34}{clocks.calls[key] // n:>6}{clocks.host[key] / n * 1e3:10.3f}{dev:11.3f}{dev / it:8.1%}")
    host, dev = sum(clocks.host.values()) / n * 1e3, sum(clocks.device.values()) / n * 1e3
    print(f"{'all parts':<34}{'':>6}{host:10.3f}{dev:11.3f}{dev / it:8.1%}")
    print(f"{'whole iteration':<34}{'':>6}{'':>10}{it:11.3f}{1:8.1%}")
    print_products(trainer, real, args.model, it)


def time_product(shape, B, repeat: int = 5) -> float:
    """Seconds of one (m, k) @ (k, n) product on contiguous operands, best of ``repeat``
    (``npgan.kernels.matmul``, as the layers compute a product whose k is 1)."""
    from npgan import kernels as K
    m, k, n = shape
    a, b = B.normal((m, k)), B.normal((k, n))
    K.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        B.synchronize()
        t0 = time.perf_counter()
        K.matmul(a, b)
        B.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def print_products(trainer, real, model, iteration_ms: float) -> None:
    """The second table: the iteration's matrix products timed alone, and the share outside."""
    from npgan import backend as B
    latent = MODELS[model][0]
    products = (matrix_products(trainer.generator, (real.shape[0], latent), "G")
                + matrix_products(trainer.discriminator, real.shape, "D"))
    print(f"\n{'matrix product':<34}{'calls':>6}{'m x k x n':>18}{'ms':>9}{'GFLOP/s':>9}")
    total = 0.0
    for label, shape, count in products:
        seconds = time_product(shape, B)
        total += count * seconds * 1e3
        shape_text = "x".join(map(str, shape))
        print(f"{label:<34}{count:>6}{shape_text:>18}{seconds * 1e3:9.3f}{2 * shape[0] * shape[1] * shape[2] / seconds / 1e9:9.1f}")
    print(f"{'all products, timed alone':<34}{'':>6}{'':>18}{total:9.3f}{'':>9}  {total / iteration_ms:.1%} of the iteration")
    print(f"{'outside the matrix products':<34}{'':>6}{'':>18}{iteration_ms - total:9.3f}{'':>9}  {1 - total / iteration_ms:.1%}")


if __name__ == "__main__":
    main()
