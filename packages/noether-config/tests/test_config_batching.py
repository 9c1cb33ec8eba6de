"""The one micro-batch rule (`split_batch`) that config validation and the runtime share."""

from __future__ import annotations

import pytest

from noether.config import BaseTrainerConfig
from noether.config.batching import split_batch


@pytest.mark.parametrize(
    ("effective", "maximum", "world_size", "sizes"),
    [
        (12, 8, 1, (6, 6)),
        (7, 4, 1, (4, 3)),
        (48, 32, 1, (24, 24)),
        (10, 3, 1, (3, 3, 2, 2)),
        (64, 16, 1, (16, 16, 16, 16)),
        (14, 4, 2, (4, 3)),  # 7 per device
        (8, None, 1, (8,)),
        (8, 8, 1, (8,)),
        (8, 16, 2, (4,)),
    ],
)
def test_the_fewest_micro_batches_of_at_most_max_as_even_as_can_be(
    effective, maximum, world_size, sizes
):
    plan = split_batch(effective, maximum, world_size)
    assert plan.sizes == sizes
    assert plan.batch_size == effective // world_size
    assert plan.accumulation_steps == len(sizes)
    assert plan.weights == tuple(size / plan.batch_size for size in sizes)


def test_every_split_is_minimal_and_within_the_maximum():
    for effective in range(1, 80):
        for maximum in range(1, 40):
            sizes = split_batch(effective, maximum).sizes
            assert sum(sizes) == effective
            assert max(sizes) <= maximum
            assert max(sizes) - min(sizes) <= 1
            assert len(sizes) == -(-effective // maximum)


def test_disabled_accumulation_keeps_the_whole_batch():
    assert split_batch(12, 8, disable_gradient_accumulation=True).sizes == (12,)


def test_a_batch_that_does_not_spread_over_the_processes_is_refused():
    with pytest.raises(ValueError, match=r"effective_batch_size \(10\).*processes \(4\)"):
        split_batch(10, None, 4)


@pytest.mark.parametrize(("effective", "maximum"), [(12, 8), (7, 4), (48, 32)])
def test_a_max_batch_size_that_does_not_divide_validates(effective, maximum):
    config = BaseTrainerConfig(
        kind="batching_test", max_epochs=1, effective_batch_size=effective, max_batch_size=maximum
    )
    assert config.max_batch_size == maximum
