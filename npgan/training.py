"""The one small training loop that ``npgan train`` and ``npgan train-classifier`` share.

``fit`` runs ``step_fn(step)`` for steps ``start .. stop - 1`` with the learning rate of
each step set on the optimisers first (``learning_rate``: constant, or decayed linearly
to 0 at ``total``); averages the figures each step returns over every logging interval
and hands the averages to ``on_log`` every ``log_every`` steps and at the last step; and
shows a progress bar (tqdm) whose postfix ``on_log`` may set.

The figures a step returns may be 0-d device arrays: they are summed where they live
and converted to Python floats once per logging step, so on a GPU a step that does not
log never waits for the device.

``stop_requests()`` turns SIGINT, SIGTERM and SIGHUP into a request that ``fit`` honours
between two steps (a second Ctrl-C interrupts at once), so an interrupted run can be
checkpointed at a step boundary and resumed exactly.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from tqdm import tqdm

LR_DECAYS = ("linear", "none")


def learning_rate(base: float, step: int, total: int, decay: str = "linear") -> float:
    """The learning rate at 0-based ``step`` of ``total``: ``base``, or (``"linear"``)
    ``base * (1 - step / total)``, which reaches 0 at the last step."""
    if decay not in LR_DECAYS:
        raise ValueError(f"unknown learning-rate decay {decay!r}; expected one of {LR_DECAYS}")
    return base if decay == "none" else base * (1.0 - step / total)


class StopRequest:
    """Set by a signal inside ``stop_requests()``; ``fit`` stops after the current step."""

    def __init__(self):
        self.signal = None

    def __bool__(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def stop_requests():
    """Within the block, SIGINT (once), SIGTERM and SIGHUP ask the loop to stop after its
    current step instead of killing the process mid-step; yields the ``StopRequest``."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be installed from the main thread
        return
    wanted = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]

    def handler(signum, frame):
        if request and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: now
        request.signal = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def fit(step_fn, optimizers, *, lr: float, total: int, start: int = 0, stop: int | None = None,
        decay: str = "linear", log_every: int = 0, on_log=None, progress: str | None = None,
        should_stop=None) -> int:
    """Train from ``start`` up to ``stop`` (default ``total``) steps; see the module docstring.

    ``step_fn(step) -> dict`` of numbers (a ``"step"`` key is ignored);
    ``on_log(step, record) -> dict | None``: ``step`` counts the steps done (1-based),
    ``record`` holds ``"lr"`` and the interval's averages; a returned dict becomes the
    progress bar's postfix. ``progress`` is the bar's label (None: no bar). ``should_stop()``,
    checked after every step, ends the loop early. Returns the number of steps done.
    """
    stop = total if stop is None else min(stop, total)
    bar = None
    if progress is not None:
        bar = tqdm(total=total, initial=start, desc=progress, unit="step", dynamic_ncols=True)
    sums, count, done = {}, 0, start
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
            if should_stop is not None and should_stop():
                break
    finally:
        if bar is not None:
            bar.close()
    return done
