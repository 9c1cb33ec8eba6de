"""What a run changes in its process and puts back for a Python caller of `noether.core.cli.run`.

A run seeds Python's, NumPy's and torch's global generators (`seed_everything`), may set
torch's thread count (`num_threads`) and puts its config's folder on `sys.path`, importing the
modules there. A sweep that calls `run` in a loop would then draw the same "random" values for
every trial after the first, evaluate on one thread, and, for a second project folder whose
modules have the same names, train the first folder's code. What the caller had is put back
when the run returns; torch's and NumPy's state only where the caller had imported them.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """The global generators, torch's thread count, `sys.path` and the modules imported from
    the folders the run added to it, as they were before the block."""
    path = list(sys.path)
    modules = set(sys.modules)
    python_rng = random.getstate()
    numpy: Any = sys.modules.get("numpy")
    numpy_rng = numpy.random.get_state() if numpy is not None else None
    torch: Any = sys.modules.get("torch")
    torch_state = _torch_state(torch) if torch is not None else None
    try:
        yield
    finally:
        for entry in [entry for entry in sys.path if entry not in path]:
            # imported here: a noether-config of another version stops the run before this
            from noether.config.loader.local_modules import forget_folder_modules

            forget_folder_modules(os.path.realpath(entry or os.curdir), modules)
        sys.path[:] = path
        random.setstate(python_rng)
        if numpy is not None:
            numpy.random.set_state(numpy_rng)
        if torch is not None:
            _set_torch_state(torch, torch_state)


def _torch_state(torch: Any) -> tuple[Any, int, Any]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), torch.get_num_threads(), cuda


def _set_torch_state(torch: Any, state: Any) -> None:
    rng, threads, cuda = state
    torch.set_rng_state(rng)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


__all__ = ["caller_state_kept"]
