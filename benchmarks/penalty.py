"""What a gradient penalty costs: a DCGAN-28 discriminator step with and without it, in one run.

    python -m benchmarks.penalty [--threads 2] [--batch 64] [--repeat 20]     # from the repository root

The critic is ``dcgan28_discriminator(norm="layer")`` on both sides (a penalised critic
cannot use BatchNorm), so the ratio is the penalty's alone: one more forward pass, a
backward pass for the input gradient, and the second-order pass (each layer's
``double_backward``, then a backward pass for the terms that depend on x). Timed in
alternating blocks (``common.time_ab``). Rows: plain, WGAN-GP (target 1, on
interpolates) and R1 (target 0, on real images).
"""

from .common import header_line, layer_timing_arguments, seeded_backend, time_ab


def d_step(penalty: dict, batch: int, backend_name: str):
    from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator
    B = seeded_backend(backend_name)
    gan = GANTrainer(dcgan28_generator(100), dcgan28_discriminator(norm="layer"), 100, lr=2e-4, **penalty)
    real = B.uniform((batch, 1, 28, 28), -1, 1)
    return lambda: gan.discriminator_step(real)


def main(argv=None):
    args, allocator = layer_timing_arguments(__doc__, argv)
    from npgan import backend as B
    print("# " + header_line(f"backend {args.backend}", f"dcgan28 critic with LayerNorm, batch {args.batch}", "float32",
                             threads=args.threads, allocator=allocator))
    print(f"{'penalty':<10}{'plain ms':>10}{'penalised ms':>14}{'ratio':>8}")
    for name, penalty in (("gp", {"gp": 10.0}), ("r1", {"r1": 1.0})):
        plain, penalised = time_ab(d_step({}, args.batch, args.backend), d_step(penalty, args.batch, args.backend),
                                   B.synchronize, B.synchronize, repeat=args.repeat, warmup=2)
        print(f"{name:<10}{plain * 1e3:10.2f}{penalised * 1e3:14.2f}{penalised / plain:8.2f}", flush=True)


if __name__ == "__main__":
    main()
