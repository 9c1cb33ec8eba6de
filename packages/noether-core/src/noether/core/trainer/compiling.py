"""torch.compile of the trained model, and what keeps a compiled step CUDA-graph safe.

Only the model (with DDP around or inside it) is compiled: the trainer's step around it
(`train_step`, the loss weighting, backward, the non-finite policies, the optimizer step,
callbacks) runs eagerly, so none of the framework's code is traced and it adds no graph
break or recompile. DDP's own forward does break the graph (its reducer calls cannot be
traced), which torch handles when it compiles the DDP-wrapped model, but which `fullgraph`
turns into an error; so with `fullgraph` on several processes the model is compiled first
and DDP wraps the compiled model (`compiles_inside_ddp`).

What remains for CUDA graphs (mode reduce-overhead or max-autotune) is their memory: a graph's
outputs live in a pool that the next iteration overwrites, and the first micro-batch's
gradients are such outputs (autograd keeps the backward graph's output as `.grad`). Torch
starts a new iteration at every call of the compiled model once the previous backward ran,
which with gradient accumulation is the next micro-batch: the gradients kept so far would be
overwritten. The trainer therefore marks the start of each update itself
(`torch.compiler.cudagraph_mark_step_begin`), so the micro-batches of one update form one
iteration and the gradients stay valid until the optimizer step and `zero_grad` (which drops
them) are done. Once marked, torch takes iterations from the marks only, for every CUDA graph
of the process: a model output kept past its update must be cloned.

Compiled graphs are cached on disk across runs, and torch's AOTAutograd cache (in torch 2.11,
for one) keys a graph compiled under autocast by whether autocast was on, not by its dtype:
on an H200 a float16 quickstart compiled after a bfloat16 one, sharing the cache, trained
the bfloat16 graph (the bfloat16 run's loss to 7 digits). A run that autocasts therefore adds
its dtype to torch's cache key tag while it trains (`autocast_cache_key`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from noether.core.precision import dtype_name

if TYPE_CHECKING:
    from noether.config import BaseTrainerConfig
    from noether.config.schemas import CompileOptions


_CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compiles_inside_ddp(config: BaseTrainerConfig[Any], world_size: int) -> bool:
    """Whether torch.compile goes inside DDP (DDP wraps the compiled model) instead of
    around it: for `fullgraph` on several processes, as DDP's forward is not one graph.

    Inside, the model's whole backward is one compiled step, so DDP all-reduces the
    gradients after it rather than bucket by bucket during it (torch's DDP graph splitting
    applies only around DDP).
    """
    options = config.compile_options
    fullgraph = options is not None and options.fullgraph
    return bool(config.use_torch_compile and fullgraph and world_size > 1)


def compile_model(
    module: nn.Module,
    options: CompileOptions | None,
    micro_batch_sizes: Sequence[int],
    logger: logging.Logger,
    device: torch.device,
) -> nn.Module:
    """`torch.compile(module, **options)` (torch's defaults when `options` is None).

    With `dynamic: false` every distinct input shape gets its own graph: the training
    micro-batches have at most two sizes (`split_batch` makes them differ by at most one), so
    an uneven split compiles twice, once for each, and never again. An even split (or
    `dynamic: true`) compiles once.

    Args:
        module: the model, DDP-wrapped when there is more than one process (unless
            `compiles_inside_ddp`).
        options: the config's compile_options.
        micro_batch_sizes: the sizes of an update's micro-batches on this device.
        logger: where the compile call is reported.
        device: the device trained on; CUDA graphs exist on CUDA only.
    """
    if options is None:
        logger.info("compiling the model with torch.compile")
        return torch.compile(module)  # type: ignore[return-value]
    kwargs = options.model_dump()
    logger.info("compiling the model with torch.compile(%s)", kwargs)
    if options.mode in _CUDA_GRAPH_MODES and device.type != "cuda":
        logger.info(
            "mode %s captures CUDA graphs on CUDA only: on %s it compiles without them",
            options.mode,
            device.type,
        )
    sizes = sorted(set(micro_batch_sizes), reverse=True)
    if options.dynamic is False and len(sizes) > 1:
        logger.info(
            "dynamic=False and micro-batches of %s samples: one graph per size (%d)",
            "+".join(map(str, micro_batch_sizes)),
            len(sizes),
        )
    return torch.compile(module, **kwargs)  # type: ignore[return-value]


def update_start_marker(compiled: bool, device: torch.device) -> Callable[[], None] | None:
    """What the loop calls before the first micro-batch of every update: the CUDA graph
    iteration mark for a compiled model on CUDA (see the module docstring), else None.

    The mark only counts iterations; without CUDA graphs it has no effect, so it is given
    for every compile mode (the mode's CUDA graph setting is torch's to decide).
    """
    if not compiled or device.type != "cuda":
        return None
    return torch.compiler.cudagraph_mark_step_begin


@contextlib.contextmanager
def autocast_cache_key(compiled: bool, precision: torch.dtype) -> Iterator[None]:
    """While a compiled run that autocasts trains: `torch.compiler.config.cache_key_tag` with
    the autocast dtype added (`+autocast-bfloat16`), so that its cached graphs are never
    served to a run in another dtype (see the module docstring). A tag the user set is kept
    in front; a torch without the tag (before 2.6) gets nothing."""
    config: Any = None
    with contextlib.suppress(ImportError):  # torch before 2.6 has none
        config = importlib.import_module("torch.compiler.config")
    if not compiled or precision == torch.float32 or not hasattr(config, "cache_key_tag"):
        yield
        return
    tag = f"autocast-{dtype_name(precision)}"
    user_tag = config.cache_key_tag
    with config.patch(cache_key_tag=f"{user_tag}+{tag}" if user_tag else tag):
        yield
