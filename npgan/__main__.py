"""``npgan`` and ``python -m npgan``: the command line, with its process settings made first.

OpenBLAS reads its idle-thread setting once, when NumPy loads, so ``runtime.blas_environment()``
runs here, before anything imports NumPy (``import npgan`` loads none). The rest of the
process tuning (the allocator, the thread governor) is the command line's own
(``npgan.cli``).
"""

import sys

from npgan import runtime

runtime.blas_environment()

from npgan.cli import main as _cli_main  # noqa: E402  (NumPy loads here, after the environment is set)


def main() -> int:
    return _cli_main()


if __name__ == "__main__":
    sys.exit(main())
