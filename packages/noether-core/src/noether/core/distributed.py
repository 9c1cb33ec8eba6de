"""Thin helpers over torch.distributed that are no-ops without a process group.

Everything in the loop goes through these, so the same code runs in one process or many.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import torch
import torch.distributed as dist

_logger = logging.getLogger(__name__)

SAME_ON_EVERY_RANK: dict[str, Any] = {"same_on_every_rank": True}
"""`extra` of a log record that every rank logs alike, from values the ranks agreed on (a
skipped non-finite loss): the console shows rank 0's only (see `run_logging`)."""

_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def is_distributed() -> bool:
    """True when a process group is initialised (even with world size 1)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    """Rank on this node, as torchrun (LOCAL_RANK) or srun (SLURM_LOCALID) sets it; else 0."""
    from noether.core.launch import detect

    return detect().local_rank


def is_rank0() -> bool:
    """Whether this process writes files and logs."""
    return get_rank() == 0


def leave_process_group() -> None:
    """Destroys the process group (nothing without one), after collecting garbage.

    DDP's reducer holds the group; when it outlived the group (BaseTrainer.train lets it go;
    a reference cycle may still hold it), its threads aborted the process at interpreter
    exit ("terminate called without an active exception") in about 1 of 7 two-rank gloo
    runs on a busy host. With both measures, about 1 in 60 still did, in torch's teardown,
    which `noether-train` now skips (`run_signals.skip_teardown`).
    """
    if is_distributed():
        gc.collect()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for all ranks."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place; returns the tensor."""
    if is_distributed() and get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over ranks, in place; returns the tensor."""
    world_size = get_world_size()
    if world_size > 1:
        all_reduce_sum(tensor)
        tensor /= world_size
    return tensor


def all_reduce_min(tensor: torch.Tensor) -> torch.Tensor:
    """Minimum over ranks, in place (e.g. "all ranks agree this is finite")."""
    if is_distributed() and get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """Maximum over ranks, in place (e.g. "any rank wants to stop")."""
    if is_distributed() and get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's object, in rank order."""
    if not (is_distributed() and get_world_size() > 1):
        return [obj]
    gathered: list[Any] = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_gather_tensor(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's tensor (same shape on all ranks), in rank order."""
    if not (is_distributed() and get_world_size() > 1):
        return [tensor]
    gathered = [torch.empty_like(tensor) for _ in range(get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s object on every rank."""
    if not (is_distributed() and get_world_size() > 1):
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def all_reduce_gradients_mean(module: torch.nn.Module) -> None:
    """Average gradients over ranks by hand (when DDP's own reduction was skipped)."""
    if not (is_distributed() and get_world_size() > 1):
        return
    for param in module.parameters():
        if param.requires_grad:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            all_reduce_mean(param.grad)


def wrap_ddp(
    model: torch.nn.Module,
    device: torch.device,
    find_unused_parameters: bool = False,
    static_graph: bool = False,
) -> torch.nn.Module:
    """DistributedDataParallel with SyncBatchNorm when world size > 1; else the model.

    A model without trainable parameters is not wrapped (DDP refuses it): its weights are
    broadcast from rank 0 instead.
    """
    if not is_distributed() or get_world_size() == 1:
        return model
    if not any(p.requires_grad for p in model.parameters()):
        # DDP refuses modules without trainable parameters; just make the weights agree
        for tensor in [*model.parameters(), *model.buffers()]:
            torch.distributed.broadcast(tensor.data, src=0)
        _logger.info("no trainable parameters: weights broadcast, model not wrapped in DDP")
        return model
    if device.type == "cuda":
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
        if converted is not model:
            raise TypeError("the model itself is a BatchNorm layer; wrap it in a ModelBase")
    elif any(isinstance(m, _BATCH_NORMS) for m in model.modules()):
        # SyncBatchNorm runs on accelerators only; on CPU each rank keeps its own statistics
        _logger.warning("BatchNorm is not synchronised across ranks on %s", device.type)
    ddp = torch.nn.parallel.DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" and device.index is not None else None,
        find_unused_parameters=find_unused_parameters,
        static_graph=static_graph,
    )
    if get_world_size() > 2:
        # torch checks the hook's annotations as objects; this module's are strings
        ddp.register_comm_hook(None, lambda state, bucket: reduce_each_gradient(state, bucket))
    return ddp


def reduce_each_gradient(state: object, bucket: Any) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: the mean over ranks of each gradient of the bucket, reduced
    by itself.

    DDP's own hook reduces a bucket as one tensor, and a sum over three or more ranks
    depends on where a value lies in it (the chunks of a ring are summed in different rank
    orders). DDP lays its buckets out anew after the first update of every process, so the
    first update after a resume would be summed differently from the uninterrupted run's
    update there. Reduced by itself, a gradient's sum does not depend on the layout.
    (Two ranks' sum does not depend on the order: DDP's hook is kept there.) `bucket` is a
    `torch.distributed.GradBucket`, which torch's type stubs do not name.
    """
    del state
    buffer = bucket.buffer()
    buffer.div_(get_world_size())
    futures = [dist.all_reduce(grad, async_op=True).get_future() for grad in bucket.gradients()]
    return torch.futures.collect_all(futures).then(lambda _: buffer)
