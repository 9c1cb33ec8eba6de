"""Random number generator states as plain tensors and numbers, and seeds derived from positions.

A checkpoint is loaded with `torch.load(weights_only=True)`, which refuses NumPy arrays; the
states here hold only tensors, ints, floats and tuples, so they load without running code.
"""

from __future__ import annotations

import hashlib
import logging
import random
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from noether.core.distributed import get_rank, get_world_size


def get_rng_states() -> dict[str, Any]:
    """This process's Python, NumPy, torch and CUDA generator states."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
            else None
        ),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restores what `get_rng_states` returned."""
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def derive_seed(*parts: int) -> int:
    """A 32-bit seed that depends on every part (e.g. seed, rank, epoch, position) and on
    nothing else, so a resumed run draws what the uninterrupted run drew at that position."""
    digest = hashlib.blake2b(struct.pack(f"<{len(parts)}q", *parts), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def seed_all(seed: int) -> None:
    """Seeds Python, NumPy and torch (all devices) with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def restore_rank_states(states: Sequence[dict[str, Any]], fallback_seed: int) -> None:
    """This rank's states from one entry per rank; when the world size changed, every
    generator is seeded with `fallback_seed` instead (derived from the position), with a
    warning that the run is then not the one it would have been uninterrupted."""
    if len(states) == get_world_size():
        set_rng_states(states[get_rank()])
        return
    logging.getLogger(__name__).warning(
        "the checkpoint holds the RNG states of %d rank(s), this run has %d: random numbers "
        "are drawn afresh from the position, so the run is not the one it would have been "
        "uninterrupted",
        len(states),
        get_world_size(),
    )
    seed_all(fallback_seed)
