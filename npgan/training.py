"""The one small training loop that ``npgan train`` and ``npgan train-classifier`` share.

``fit`` runs ``step_fn(step)`` for steps ``start .. stop - 1`` with the learning rate of
each step set on the optimisers first (``learning_rate``: constant, or decayed linearly
to 0 at ``total``); averages the figures each step returns over every logging interval
and hands the averages to ``on_log`` every ``log_every`` steps and at the last step; and
shows a progress bar (tqdm) whose postfix ``on_log`` may set.

The figures a step returns may be 0-d device arrays: they are summed where they live
and converted to Python floats once per logging step, so on a GPU a step that does not
log never waits for the device.
"""

from __future__ import annotations

LR_DECAYS = ("linear", "none")


def learning_rate(base: float, step: int, total: int, decay: str = "linear") -> float:
    """The learning rate at 0-based ``step`` of ``total``: ``base``, or (``"linear"``)
    ``base * (1 - step / total)``, which reaches 0 at the last step."""
    if decay not in LR_DECAYS:
        raise ValueError(f"unknown learning-rate decay {decay!r}; expected one of {LR_DECAYS}")
    return base if decay == "none" else base * (1.0 - step / total)


def fit(step_fn, optimizers, *, lr: float, total: int, start: int = 0, stop: int | None = None,
        decay: str = "linear", log_every: int = 0, on_log=None, progress: str | None = None) -> None:
    """Train from ``start`` up to ``stop`` (default ``total``) steps; see the module docstring.

    ``step_fn(step) -> dict`` of numbers (a ``"step"`` key is ignored);
    ``on_log(step, record) -> dict | None``: ``step`` counts the steps done (1-based),
    ``record`` holds ``"lr"`` and the interval's averages; a returned dict becomes the
    progress bar's postfix. ``progress`` is the bar's label (None: no bar).
    """
    stop = total if stop is None else min(stop, total)
    bar = None
    if progress is not None:
        from tqdm import tqdm
        bar = tqdm(total=total, initial=start, desc=progress, unit="step", dynamic_ncols=True)
    sums, count = {}, 0
    try:
        for step in range(start, stop):
            rate = learning_rate(lr, step, total, decay)
            for opt in optimizers:
                opt.lr = rate
            for k, v in step_fn(step).items():
                if k != "step":
                    sums[k] = sums[k] + v if k in sums else v
            count += 1
            if bar is not None:
                bar.update(1)
            done = step + 1
            if on_log is not None and log_every and (done % log_every == 0 or done == total):
                postfix = on_log(done, {"lr": rate, **{k: float(v) / count for k, v in sums.items()}})
                sums, count = {}, 0
                if bar is not None and postfix:
                    bar.set_postfix(postfix)
    finally:
        if bar is not None:
            bar.close()
