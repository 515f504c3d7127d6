"""One full GAN training iteration, npgan vs PyTorch, CPU (and GPU where usable), in one run.

    python -m benchmarks.iteration [--threads 2] [--models toy2d mlp784 dcgan28] [--batches 64 256]
    python -m benchmarks.iteration --backends cupy --batches 64 256 1024 \
        --cpu-reference benchmarks/cpu_reference.json --json runs/gpu.json     # on a GPU machine

(from the repository root, where ``python -m`` finds ``benchmarks`` and ``npgan``).

An iteration is Algorithm 1 with k = 1: G forward for the fakes, D forward+backward
on real and fake, Adam on D; then G forward, D forward+backward, G backward, Adam
on G. The same models are built in PyTorch (when installed) and timed in the same
run with the same structure, eagerly, on the same device: the CPU beside NumPy, the
CUDA device beside CuPy (TF32 off on both sides unless --tf32, stated in the header).
Columns:

* ms/iter: median of --repeat iterations after warm-up, each synchronised (CuPy's
  device and PyTorch's CUDA stream); npgan and PyTorch run in alternating blocks of
  iterations (A/B interleaved), so drift in the machine's speed falls on both alike;
* samples/s: batch / time;
* GFLOP/s: matrix-product FLOPs counted analytically (forward F; backward 2F;
  an iteration = 4 F_G + 8 F_D: G forward twice and backward once; D forward three
  times, backward with weight gradients twice (D step; the first layer's input
  gradient is skipped there, as PyTorch skips it for data) and input gradients only
  once (G step, D frozen)), divided by time. PyTorch also computes D's weight
  gradients in the G step (9 F_D); the same FLOP count is used for both, so its
  GFLOP/s is a lower bound;
* peak MB: on the CPU, the peak of NumPy allocations during one npgan iteration
  (tracemalloc); on the GPU, what CuPy's memory pool holds after one iteration started
  from an emptied pool (the pool keeps freed blocks, so this is the iteration's peak
  plus the model, its gradients and Adam's state);
* torch ms, npgan/torch: the ratio the targets are stated in;
* load: CPU share used by *other* processes while timing (rerun above a few %);
* after a GPU row: its speed-up over npgan's CPU time for the same row, from the NumPy
  rows of the same run, or from another machine's ``--json`` file (``--cpu-reference``;
  ``benchmarks/cpu_reference.json`` holds a 2-core CPU's, machine and date included).
"""

import argparse
import json
import math
import os
import sys
import time
import tracemalloc

from .common import (
    LoadMeter,
    gpu_info,
    header_line,
    machine_line,
    prepare_process,
    seeded_backend,
    set_torch_tf32,
    tf32_line,
    time_ab,
    time_fn,
    torch_device,
)

MODELS = {
    # name: (latent size, shape of one data sample)
    "toy2d": (2, (2,)),
    "mlp784": (100, (784,)),
    "dcgan28": (100, (1, 28, 28)),
}


def npgan_models(name):
    from npgan import nn
    from npgan.gan import dcgan28_discriminator, dcgan28_generator
    if name == "toy2d":
        G = nn.Sequential(nn.Dense(2, 128), nn.ReLU(), nn.Dense(128, 128), nn.ReLU(), nn.Dense(128, 2))
        D = nn.Sequential(nn.Dense(2, 128), nn.LeakyReLU(0.2), nn.Dense(128, 128), nn.LeakyReLU(0.2),
                          nn.Dense(128, 1))
    elif name == "mlp784":
        G = nn.Sequential(nn.Dense(100, 256), nn.ReLU(), nn.Dense(256, 512), nn.ReLU(), nn.Dense(512, 784),
                          nn.Tanh())
        D = nn.Sequential(nn.Dense(784, 512), nn.LeakyReLU(0.2), nn.Dense(512, 256), nn.LeakyReLU(0.2),
                          nn.Dense(256, 1))
    else:
        G, D = dcgan28_generator(100), dcgan28_discriminator()
    return G, D


def torch_models(name, torch):
    tnn = torch.nn
    if name == "toy2d":
        G = tnn.Sequential(tnn.Linear(2, 128), tnn.ReLU(), tnn.Linear(128, 128), tnn.ReLU(), tnn.Linear(128, 2))
        D = tnn.Sequential(tnn.Linear(2, 128), tnn.LeakyReLU(0.2), tnn.Linear(128, 128), tnn.LeakyReLU(0.2),
                           tnn.Linear(128, 1))
    elif name == "mlp784":
        G = tnn.Sequential(tnn.Linear(100, 256), tnn.ReLU(), tnn.Linear(256, 512), tnn.ReLU(),
                           tnn.Linear(512, 784), tnn.Tanh())
        D = tnn.Sequential(tnn.Linear(784, 512), tnn.LeakyReLU(0.2), tnn.Linear(512, 256), tnn.LeakyReLU(0.2),
                           tnn.Linear(256, 1))
    else:
        G = tnn.Sequential(tnn.Linear(100, 128 * 49), tnn.Unflatten(1, (128, 7, 7)), tnn.BatchNorm2d(128),
                           tnn.ReLU(), tnn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), tnn.BatchNorm2d(64),
                           tnn.ReLU(), tnn.ConvTranspose2d(64, 1, 4, 2, 1), tnn.Tanh())
        D = tnn.Sequential(tnn.Conv2d(1, 64, 4, 2, 1), tnn.LeakyReLU(0.2), tnn.Conv2d(64, 128, 4, 2, 1, bias=False),
                           tnn.BatchNorm2d(128), tnn.LeakyReLU(0.2), tnn.Flatten(), tnn.Linear(128 * 49, 1))
    return G, D


# how often each product runs in one iteration: (forward, weight gradient, input gradient,
# the first layer's input gradient). G: forward twice (fakes for D, fakes for G's step),
# backward once, no gradient for the noise. D: forward three times (real, fake, G's step),
# weight gradients in its own step (real, fake), input gradients three times, but for the
# data only in G's step
PRODUCT_COUNTS = {"G": (2, 1, 1, 0), "D": (3, 2, 3, 1)}


def matrix_products(model, input_shape, role):
    """The matrix products of one iteration in an npgan Sequential on ``input_shape``:
    ``[(label, (m, k, n), count)]``, each an (m, k) @ (k, n) product as the layer computes it
    (Dense: x W, x^T g, g W^T; Conv2D: im2col rows times the weight matrix; ConvTranspose2D:
    input rows times the weight matrix before col2im), ``role`` "G" or "D" for the counts."""
    from npgan import backend as B
    from npgan import nn
    fwd, wgrad, dx, first_dx = PRODUCT_COUNTS[role]
    products, shape = [], tuple(input_shape)
    for i, layer in enumerate(model.layers):
        out = layer.forward(B.get_backend().zeros(shape, dtype=B.get_dtype()), training=True).shape
        n = shape[0]
        if isinstance(layer, nn.Dense):
            m, k, o = n, layer.in_features, layer.out_features
        elif isinstance(layer, nn.Conv2D):
            m, k, o = n * out[2] * out[3], shape[1] * layer.kernel_size[0] * layer.kernel_size[1], out[1]
        elif isinstance(layer, nn.ConvTranspose2D):
            m, k, o = n * shape[2] * shape[3], shape[1], out[1] * layer.kernel_size[0] * layer.kernel_size[1]
        else:
            shape = tuple(out)
            continue
        name = f"{role}.{i} {type(layer).__name__}"
        # the weight gradient: x^T g for Dense and ConvTranspose2D, g^T im2col(x) for Conv2D
        weight_grad = (o, m, k) if isinstance(layer, nn.Conv2D) else (k, m, o)
        products += [(f"{name} forward", (m, k, o), fwd), (f"{name} weight grad", weight_grad, wgrad),
                     (f"{name} input grad", (m, o, k), dx if i else first_dx)]
        shape = tuple(out)
    return [p for p in products if p[2]]


def forward_flops(model, input_shape):
    """Matrix-product FLOPs of one forward pass of an npgan Sequential on ``input_shape``:
    2 m k n summed over ``matrix_products``' forward entries."""
    return sum(2 * m * k * n for label, (m, k, n), _ in matrix_products(model, input_shape, "G")
               if label.endswith(" forward"))


def npgan_trainer(name, batch, backend_name):
    """(GANTrainer with Adam, a real batch) of model ``name`` on ``backend_name``, seeded."""
    from npgan.gan import GANTrainer
    B = seeded_backend(backend_name)
    latent, shape = MODELS[name]
    G, D = npgan_models(name)
    return GANTrainer(G, D, latent, lr=2e-4), B.normal((batch,) + shape)


def npgan_iteration(name, batch, backend_name):
    gan, real = npgan_trainer(name, batch, backend_name)
    latent, shape = MODELS[name]
    flops = 4 * forward_flops(gan.generator, (batch, latent)) + 8 * forward_flops(gan.discriminator, (batch,) + shape)
    return (lambda: gan.train_step(real)), flops


def torch_iteration(name, batch, torch, device="cpu"):
    """The same iteration in PyTorch eager mode, models and data on ``device``."""
    latent, shape = MODELS[name]
    G, D = (m.to(device) for m in torch_models(name, torch))
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    real = torch.randn((batch,) + shape, device=device)
    ones, zeros = torch.ones(batch, 1, device=device), torch.zeros(batch, 1, device=device)

    def step():
        fake = G(torch.randn(batch, latent, device=device)).detach()
        od.zero_grad()
        (bce(D(real), ones) + bce(D(fake), zeros)).backward()
        od.step()
        og.zero_grad()
        bce(D(G(torch.randn(batch, latent, device=device))), ones).backward()
        og.step()

    return step


def peak_mb(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def gpu_pool_mb(fn):
    """MB held by CuPy's default memory pool after fn(), started from an emptied pool."""
    import cupy

    from npgan import backend as B
    pool = cupy.get_default_memory_pool()
    B.synchronize()
    pool.free_all_blocks()
    fn()
    B.synchronize()
    return pool.total_bytes() / 2**20


def load_reference(path):
    """{(model, batch): ms} of npgan's CPU rows in a ``--json`` file, and its label."""
    with open(path) as f:
        ref = json.load(f)
    rows = {(r["model"], r["batch"]): r["ms"] for r in ref["rows"] if r["backend"] == "numpy"}
    return rows, f"{ref['cores']}-core CPU, {ref['threads']} thr, {ref['date']}"


def write_json(path, header, rows) -> None:
    from npgan.io import atomic_write
    with atomic_write(path, "w") as f:
        json.dump({**header, "rows": rows}, f, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--backends", nargs="+", default=None, help="default: numpy, plus cupy when usable")
    ap.add_argument("--no-torch", action="store_true",
                    help="time npgan alone, in a process without PyTorch (as the npgan command runs)")
    ap.add_argument("--tf32", action="store_true", help="TF32 products on the GPU, on both sides (default: off)")
    ap.add_argument("--json", metavar="PATH", help="also write the rows, with the machine, to this JSON file")
    ap.add_argument("--cpu-reference", metavar="PATH",
                    help="a --json file of CPU rows (another machine's): GPU rows print their speed-up over it")
    args = ap.parse_args(argv)
    allocator = prepare_process(args.threads, args.tf32)
    import numpy

    from npgan import backend as B
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
            torch.manual_seed(0)
            set_torch_tf32(torch, args.tf32)
        except ImportError:
            pass
    backends = args.backends or B.available_backends()
    reference, ref_label = load_reference(args.cpu_reference) if args.cpu_reference else ({}, "")
    header = {"command": " ".join(["python -m benchmarks.iteration", *(sys.argv[1:] if argv is None else argv)]),
              "machine": machine_line(), "cores": os.cpu_count(), "threads": args.threads,
              "date": time.strftime("%Y-%m-%d"), "numpy": numpy.__version__,
              "dtype": "float32", "allocator": allocator,
              "torch": torch.__version__ if torch else None}
    if "cupy" in backends:
        header.update(gpu_info(), tf32=tf32_line(torch if torch_device(torch, "cupy") else None))
    print("# " + header_line("float32", f"torch {torch.__version__ if torch else 'not used' if args.no_torch else 'not installed'}",
                             header.get("gpu"), header.get("tf32"), threads=args.threads, allocator=allocator))
    print(f"{'model':<9}{'batch':>6}{'backend':>8}{'ms/iter':>10}{'samples/s':>11}{'GFLOP/s':>9}"
          f"{'peak MB':>9}{'torch ms':>10}{'npgan/torch':>12}{'load':>7}")
    cpu_ms, rows = dict(reference), []
    for name in args.models:
        for batch in args.batches:
            for backend_name in backends:
                step, flops = npgan_iteration(name, batch, backend_name)
                on_gpu, side = backend_name == "cupy", torch_device(torch, backend_name)
                with LoadMeter() as load:  # PyTorch on the same device, A/B in alternating blocks
                    ref = None
                    if side is not None:
                        device, tsync = side
                        ours, ref = time_ab(step, torch_iteration(name, batch, torch, device), B.synchronize,
                                            tsync, repeat=args.repeat, warmup=2)
                    else:
                        ours = time_fn(step, B.synchronize, args.repeat, warmup=2)
                mem = gpu_pool_mb(step) if on_gpu else peak_mb(step)
                extra, speedup = "", None
                if not on_gpu:
                    if not reference:  # this run's CPU rows are the reference
                        cpu_ms[(name, batch)] = ours * 1e3
                elif (name, batch) in cpu_ms:
                    speedup = cpu_ms[(name, batch)] / (ours * 1e3)
                    extra = f"  x{speedup:.1f} vs {ref_label or 'numpy above'}"
                tms = f"{ref * 1e3:10.2f}" if ref else f"{'-':>10}"
                ratio = f"{ours / ref:12.2f}" if ref else f"{'-':>12}"
                print(f"{name:<9}{batch:>6}{backend_name:>8}{ours * 1e3:10.2f}{batch / ours:11.0f}"
                      f"{flops / ours / 1e9:9.1f}{mem:9.0f}{tms}{ratio}{load.other_load:7.1%}{extra}",
                      flush=True)
                rows.append({"model": name, "batch": batch, "backend": backend_name, "ms": round(ours * 1e3, 3),
                             "torch_ms": round(ref * 1e3, 3) if ref else None, "peak_mb": round(mem, 1),
                             "gflops": round(flops / ours / 1e9, 1), "speedup_over_cpu": speedup,
                             "load": None if math.isnan(load.other_load) else round(load.other_load, 4)})
                if args.json:  # after every row, so that a run cut short keeps what it measured
                    write_json(args.json, header, rows)
            B.set_backend("numpy")


if __name__ == "__main__":
    main()
