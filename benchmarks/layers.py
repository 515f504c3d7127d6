"""Forward+backward time of Conv2D and ConvTranspose2D at DCGAN sizes, npgan vs PyTorch.

    python benchmarks/layers.py [--threads 1] [--batch 64] [--backend numpy|cupy]

Shapes are those of a 28x28 DCGAN (MNIST-sized): the discriminator's strided
convolutions 28->14->7 and the generator's transposed convolutions 7->14->28,
all kernel 4, stride 2, padding 1. Each row is the median of --repeat runs
after warm-up; with PyTorch installed the same layer is timed in the same run,
in alternating blocks of calls, and the ratio npgan/PyTorch printed. The load column
is the CPU share used by other processes while timing (rerun when it is above a
few percent).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LoadMeter, layer_timing_arguments, machine_line, time_ab, time_fn  # noqa: E402

LAYERS = [  # name, kind, (in, out), input H=W
    ("D conv1 1->64 28->14", "conv", (1, 64), 28),
    ("D conv2 64->128 14->7", "conv", (64, 128), 14),
    ("G convT1 128->64 7->14", "convT", (128, 64), 7),
    ("G convT2 64->1 14->28", "convT", (64, 1), 14),
]


def main(argv=None):
    args, allocator = layer_timing_arguments(__doc__, argv)

    from npgan import backend as B
    from npgan import nn
    B.set_backend(args.backend)
    B.seed(0)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    print(f"# {machine_line()}; backend {args.backend}; {args.threads} thread(s); batch {args.batch}; float32; {allocator}")
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
            if torch is None or args.backend != "numpy":
                ours = time_fn(step, B.synchronize, args.repeat)
            else:
                tcls = torch.nn.Conv2d if kind == "conv" else torch.nn.ConvTranspose2d
                tl = tcls(cin, cout, 4, stride=2, padding=1)
                xt = torch.from_numpy(B.to_numpy(x, copy=True)).requires_grad_(True)
                gt = torch.from_numpy(B.to_numpy(g, copy=True))

                def tstep():
                    xt.grad = None
                    tl(xt).backward(gt)

                ours, ref = time_ab(step, tstep, repeat=args.repeat)  # A/B in alternating blocks
        ratio = f"{ours / ref:8.2f}" if ref else f"{'-':>8}"
        tms = f"{ref * 1e3:10.2f}" if ref else f"{'-':>10}"
        print(f"{name:<26}{ours * 1e3:10.2f}{tms}{ratio}{load.other_load:7.1%}")


if __name__ == "__main__":
    main()
