"""How one optimizer update's batch is split into micro-batches (gradient accumulation).

One torch-free rule that config validation and the runtime (batch sizes, the sampler, the loss
weights) all call, so that what `noether-config validate` accepts is what training runs.
"""

from dataclasses import dataclass

METADATA_PREFIX = "__meta"
"""Item keys that start with it are bookkeeping (ids, file names): each batch is passed to the
model and the loss without them."""


@dataclass(frozen=True)
class MicroBatchPlan:
    """The micro-batches of one update on one device.

    Each micro-batch's loss is weighted by its share of the device's samples, so that (for a
    loss that is a mean over its samples) the summed gradient equals the gradient of one batch
    of all of them; under DDP the mean over ranks then equals one batch of
    effective_batch_size.
    """

    sizes: tuple[int, ...]
    """Samples per micro-batch, largest first; they sum to `batch_size`."""

    @property
    def batch_size(self) -> int:
        """Samples per device and update."""
        return sum(self.sizes)

    @property
    def accumulation_steps(self) -> int:
        """Micro-batches (backward passes) per update."""
        return len(self.sizes)

    @property
    def weights(self) -> tuple[float, ...]:
        """Each micro-batch's share of the device's samples (they sum to 1)."""
        total = self.batch_size
        return tuple(size / total for size in self.sizes)


def split_batch(
    effective_batch_size: int,
    max_batch_size: int | None = None,
    world_size: int = 1,
    disable_gradient_accumulation: bool = False,
) -> MicroBatchPlan:
    """The fewest micro-batches of at most `max_batch_size` for one device, as even as can be.

    The effective batch is spread evenly over `world_size` devices; a device batch larger than
    `max_batch_size` is split into ceil(batch / max) micro-batches whose sizes differ by at most
    one (12 with max 8: 6 + 6; 7 with max 4: 4 + 3).

    Raises:
        ValueError: a size below 1, or an effective batch that is not a multiple of world_size.
    """
    if effective_batch_size < 1 or world_size < 1:
        raise ValueError(
            f"effective_batch_size ({effective_batch_size}) and the number of processes "
            f"({world_size}) must be at least 1"
        )
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1 (got {max_batch_size})")
    if effective_batch_size % world_size != 0:
        raise ValueError(
            f"effective_batch_size ({effective_batch_size}) must be a multiple of the number "
            f"of processes ({world_size})"
        )
    per_device = effective_batch_size // world_size
    if disable_gradient_accumulation or max_batch_size is None or per_device <= max_batch_size:
        return MicroBatchPlan((per_device,))
    steps = -(-per_device // max_batch_size)
    size, larger = divmod(per_device, steps)
    return MicroBatchPlan((size + 1,) * larger + (size,) * (steps - larger))
