"""The interleaving batch sampler replays the loop: training micro-batches, then the batches
of callbacks due after that update or epoch."""

from __future__ import annotations

from noether.core.counters import Frequency
from noether.core.data.container import ShardedEpochSampler
from noether.core.data.interleaved import InterleavedBatchSampler, IteratorSlot, MultiDataset


def _sampler(start=(0, 0, 0), total=6, slots=(), accumulation=1, batch=2):
    main = ShardedEpochSampler(8, shuffle=False, rank=0, world_size=1)
    return InterleavedBatchSampler(
        main_sampler=main,
        batch_size=batch,
        accumulation_steps=accumulation,
        updates_per_epoch=8 // (batch * accumulation),
        effective_batch_size=batch * accumulation,
        start=start,
        total_updates=total,
        slots=list(slots),
    )


def test_training_batches_then_due_callback_batches():
    every2 = IteratorSlot(Frequency(every_n_updates=2), indices=[100, 101, 102], batch_size=2)
    epochly = IteratorSlot(Frequency(every_n_epochs=1), indices=[200], batch_size=4)
    batches = list(_sampler(slots=[every2, epochly]))
    assert batches == [
        [0, 1],
        [2, 3],
        [100, 101],
        [102],
        [4, 5],
        [6, 7],
        [100, 101],
        [102],
        [200],  # epoch 1 ends after update 4
        [0, 1],
        [2, 3],
        [100, 101],
        [102],
    ]


def test_accumulation_and_start_in_the_middle_of_an_epoch():
    # 2 micro-batches of 2 per update, 2 updates per epoch; start after update 1
    batches = list(_sampler(start=(0, 1, 4), total=3, accumulation=2))
    assert batches == [[4, 5], [6, 7], [0, 1], [2, 3]]


def test_uneven_micro_batches_cover_each_update_in_order():
    # 8 samples, updates of 7 in micro-batches of 4 + 3 (one update per epoch, 1 left over)
    main = ShardedEpochSampler(8, shuffle=False, rank=0, world_size=1)
    sampler = InterleavedBatchSampler(
        main_sampler=main,
        batch_size=4,
        accumulation_steps=2,
        updates_per_epoch=1,
        effective_batch_size=7,
        start=(0, 0, 0),
        total_updates=2,
        slots=[],
        micro_batch_sizes=(4, 3),
    )
    assert list(sampler) == [[0, 1, 2, 3], [4, 5, 6], [0, 1, 2, 3], [4, 5, 6]]


def test_evaluation_yields_each_callbacks_batches_once():
    slot = IteratorSlot(Frequency(every_n_epochs=5), indices=[8, 9, 10], batch_size=2)
    sampler = _sampler(start=(0, 0, 0), total=0, slots=[slot])
    assert sampler.evaluation
    assert list(sampler) == [[8, 9], [10]]


def test_multidataset_maps_global_indices():
    data = MultiDataset([[0, 1, 2], ["a", "b"], [], ["z"]])
    assert len(data) == 6
    assert [data[i] for i in range(6)] == [0, 1, 2, "a", "b", "z"]


def test_multidataset_fetches_whole_batches_from_one_dataset():
    class Batched(list):
        def __getitems__(self, indices):
            return [("batched", self[i]) for i in indices]

    data = MultiDataset([[0, 1, 2], Batched(["a", "b", "c"])])
    assert data.__getitems__([0, 2]) == [0, 2]
    assert data.__getitems__([4, 3]) == [("batched", "b"), ("batched", "a")]
