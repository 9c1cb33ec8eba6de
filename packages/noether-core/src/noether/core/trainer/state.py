"""What a trainer checkpoint holds besides the weights, and how a resumed run puts it back.

A resumed run must start where the stopped one was: the position (update counter), each
callback's state (matched by `state_key`), the skip_nan_loss count, the gradient scaler,
every rank's RNG states, the data layout that the position refers to (checked by the
resume initializer before anything is loaded) and the values logged so far.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from noether.core.callbacks.base import CallbackBase
from noether.core.counters import UpdateCounter
from noether.core.data.container import DataContainer
from noether.core.distributed import all_gather_object, get_rank, get_world_size
from noether.core.rng import derive_seed, get_rng_states, restore_rank_states
from noether.core.trackers.log_writer import LogWriter


def make_state_keys_unique(callbacks: Sequence[CallbackBase]) -> None:
    """Renames repeated state keys `key`, `key_1`, `key_2`, ... in list order, so that two
    callbacks of one kind keep their states apart in the checkpoint."""
    seen: Counter[str] = Counter()
    for callback in callbacks:
        key = callback.state_key
        if seen[key]:
            callback.state_key = f"{key}_{seen[key]}"
        seen[key] += 1


def describe_data_layout(
    data_container: DataContainer, updates_per_epoch: int, effective_batch_size: int
) -> dict[str, int]:
    """What a stored position means: train set size, updates per epoch, ranks."""
    train = data_container.datasets.get("train")
    return {
        "train_length": len(train) if train is not None else 0,  # type: ignore[arg-type]
        "updates_per_epoch": updates_per_epoch,
        "effective_batch_size": effective_batch_size,
        "world_size": get_world_size(),
    }


def trainer_state(
    *,
    counter: UpdateCounter,
    callbacks: Sequence[CallbackBase],
    skip_nan_loss_counter: int,
    grad_scaler: torch.amp.GradScaler | None,
    layout: dict[str, int],
    log_writer: LogWriter | None,
) -> dict[str, Any]:
    """The trainer's part of a checkpoint. Every rank must call it (the RNG states of all
    ranks are gathered).

    The log writer's summary values and the latest value of every metric (with the row of
    this update, still buffered while callbacks checkpoint) are kept: a resumed run sends no
    summary value again, and its `final` lines and metric-based callbacks read what the
    uninterrupted run would.
    """
    state: dict[str, Any] = {
        "update_counter": counter.state_dict(),
        "callbacks": {callback.state_key: callback.state_dict() for callback in callbacks},
        "skip_nan_loss_counter": skip_nan_loss_counter,
        "rng": all_gather_object(get_rng_states()),
        "data": layout,
        "summaries": dict(log_writer.summary_values) if log_writer is not None else {},
        "last_values": log_writer.latest_values() if log_writer is not None else {},
    }
    if grad_scaler is not None:
        state["grad_scaler"] = grad_scaler.state_dict()
    return state


def restore_trainer_state(
    state: dict[str, Any],
    *,
    counter: UpdateCounter,
    callbacks: Sequence[CallbackBase],
    grad_scaler: torch.amp.GradScaler | None,
    log_writer: LogWriter | None,
    seed: int,
    logger: logging.Logger,
) -> int:
    """Puts back what `trainer_state` returned; returns the skip_nan_loss count.

    Callbacks are matched by state_key (a missing or unknown state is warned about). This
    rank's RNG states are restored, or fresh ones derived from `seed`, the rank and the
    position when the world size changed.
    """
    counter.load_state_dict(state["update_counter"])
    states = dict(state.get("callbacks", {}))
    for callback in callbacks:
        if callback.state_key in states:
            callback.load_state_dict(states.pop(callback.state_key))
        else:
            logger.warning("no state for callback %s in the checkpoint", callback)
    if states:
        logger.warning("checkpoint holds state of unknown callbacks: %s", sorted(states))
    scaler_state = state.get("grad_scaler")
    if grad_scaler is not None and scaler_state is not None:
        grad_scaler.load_state_dict(scaler_state)
    if log_writer is not None:
        log_writer.summary_values.update(state.get("summaries", {}))
        log_writer.last_values.update(state.get("last_values", {}))
    restore_rank_states(
        state.get("rng") or [], fallback_seed=derive_seed(seed, get_rank(), counter.update)
    )
    return int(state.get("skip_nan_loss_counter", 0))
