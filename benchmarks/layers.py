"""Forward+backward time of Conv2D and ConvTranspose2D at DCGAN sizes, npgan vs PyTorch.

    python -m benchmarks.layers [--threads 1] [--batch 64] [--backend numpy|cupy]     # from the repository root

Shapes are those of a 28x28 DCGAN (MNIST-sized): the discriminator's strided
convolutions 28->14->7 and the generator's transposed convolutions 7->14->28,
all kernel 4, stride 2, padding 1. Each row is the median of --repeat runs
after warm-up, each synchronised; with PyTorch installed the same layer is timed in
the same run on the same device (the CPU, or the CUDA device beside CuPy, TF32 off on
both sides unless --tf32), in alternating blocks of calls, and the ratio
npgan/PyTorch printed. The load column
is the CPU share used by other processes while timing (rerun when it is above a
few percent).
"""

from .common import (
    LoadMeter,
    gpu_info,
    header_line,
    layer_timing_arguments,
    seeded_backend,
    set_torch_tf32,
    tf32_line,
    time_ab,
    time_fn,
    torch_device,
)

LAYERS = [  # name, kind, (in, out), input H=W
    ("D conv1 1->64 28->14", "conv", (1, 64), 28),
    ("D conv2 64->128 14->7", "conv", (64, 128), 14),
    ("G convT1 128->64 7->14", "convT", (128, 64), 7),
    ("G convT2 64->1 14->28", "convT", (64, 1), 14),
]


def main(argv=None):
    args, allocator = layer_timing_arguments(__doc__, argv)

    from npgan import nn
    B = seeded_backend(args.backend)
    try:
        import torch
        torch.set_num_threads(args.threads)
        set_torch_tf32(torch, args.tf32)
    except ImportError:
        torch = None
    on_gpu, side = args.backend == "cupy", torch_device(torch, args.backend)
    if side is None:
        torch = None  # PyTorch absent, or without CUDA beside CuPy: npgan's times alone
    else:
        device, tsync = side

    print("# " + header_line(f"backend {args.backend}", f"batch {args.batch}", "float32",
                             gpu_info()["gpu"] if on_gpu else "", tf32_line(torch) if on_gpu else "",
                             threads=args.threads, allocator=allocator))
    print(f"{'layer':<26}{'npgan ms':>10}{'torch ms':>10}{'ratio':>8}{'load':>7}")
    for name, kind, (cin, cout), hw in LAYERS:
        cls = nn.Conv2D if kind == "conv" else nn.ConvTranspose2D
        layer = cls(cin, cout, 4, stride=2, padding=1)
        x = B.normal((args.batch, cin, hw, hw))
        y = layer.forward(x)
        g = B.normal(y.shape)

        def step():
            layer.forward(x)
            layer.backward(g)

        with LoadMeter() as load:
            ref = None
            if torch is None:
                ours = time_fn(step, B.synchronize, args.repeat)
            else:
                tcls = torch.nn.Conv2d if kind == "conv" else torch.nn.ConvTranspose2d
                tl = tcls(cin, cout, 4, stride=2, padding=1).to(device)
                xt = torch.from_numpy(B.to_numpy(x, copy=True)).to(device).requires_grad_(True)
                gt = torch.from_numpy(B.to_numpy(g, copy=True)).to(device)

                def tstep():
                    xt.grad = None
                    tl(xt).backward(gt)

                # A/B in alternating blocks, each call synchronised on its own side
                ours, ref = time_ab(step, tstep, B.synchronize, tsync, repeat=args.repeat)
        ratio = f"{ours / ref:8.2f}" if ref else f"{'-':>8}"
        tms = f"{ref * 1e3:10.2f}" if ref else f"{'-':>10}"
        print(f"{name:<26}{ours * 1e3:10.2f}{tms}{ratio}{load.other_load:7.1%}")


if __name__ == "__main__":
    main()
