"""UpdateCounter ends and tags; Frequency decides when periodic work is due."""

from __future__ import annotations

import pytest

from noether.core.counters import Frequency, UpdateCounter


@pytest.mark.parametrize(
    ("criterion", "expected_updates"),
    [({"max_epochs": 3}, 12), ({"max_updates": 7}, 7), ({"max_samples": 33}, 5)],
)
def test_total_updates_follow_the_stop_criterion(criterion, expected_updates):
    counter = UpdateCounter(updates_per_epoch=4, effective_batch_size=8, **criterion)
    assert counter.total_updates == expected_updates
    while not counter.is_finished:
        counter.add_update()
    assert counter.update == expected_updates
    assert counter.sample == expected_updates * 8


def test_start_epoch_advances_update_and_sample_and_tag():
    counter = UpdateCounter(4, 8, max_epochs=5, start_epoch=2)
    assert (counter.epoch, counter.update, counter.sample) == (2, 8, 64)
    assert counter.tag == "E2_U8_S64"


def test_state_dict_round_trip():
    counter = UpdateCounter(4, 8, max_updates=10)
    for _ in range(5):
        counter.add_update()
    counter.add_epoch()
    other = UpdateCounter(4, 8, max_updates=10)
    other.load_state_dict(counter.state_dict())
    assert other.tag == counter.tag == "E1_U5_S40"


def test_counter_needs_exactly_one_criterion_and_whole_updates_per_epoch():
    with pytest.raises(ValueError, match="exactly one"):
        UpdateCounter(4, 8, max_epochs=1, max_updates=3)
    with pytest.raises(ValueError, match="updates_per_epoch"):
        UpdateCounter(0, 8, max_epochs=1)


def test_frequency_every_n_samples_fires_when_a_multiple_is_crossed():
    frequency = Frequency(every_n_samples=20)
    due = [u for u in range(1, 11) if frequency.due_after_update(u, u * 8, 8)]
    # samples 8, 16, 24 (crosses 20), 32, 40 (reaches 40), 48, 56, 64 (crosses 60), 72, 80
    assert due == [3, 5, 8, 10]


def test_frequency_updates_and_epochs():
    frequency = Frequency(every_n_updates=3)
    assert [u for u in range(1, 10) if frequency.due_after_update(u, u, 1)] == [3, 6, 9]
    assert not frequency.due_after_epoch(3)
    by_epoch = Frequency(every_n_epochs=2)
    assert [e for e in range(1, 6) if by_epoch.due_after_epoch(e)] == [2, 4]
    with pytest.raises(ValueError, match="every_n_updates"):
        Frequency(every_n_updates=0)


@pytest.mark.parametrize(
    ("every", "batch", "start"),
    [
        ({"every_n_updates": 3}, 8, (0, 0)),
        ({"every_n_samples": 20}, 8, (0, 0)),
        ({"every_n_samples": 20}, 8, (3, 27)),  # resumed with samples off the grid
        ({"every_n_samples": 5}, 8, (2, 16)),  # an update crosses more than one multiple
        ({"every_n_updates": 7, "every_n_samples": 30}, 4, (5, 20)),
    ],
)
def test_next_update_due_is_the_first_update_due_after_update(every, batch, start) -> None:
    frequency = Frequency(**every)
    update, sample = start
    expected = next(
        u
        for u in range(update + 1, update + 1000)
        if frequency.due_after_update(u, sample + (u - update) * batch, batch)
    )
    assert frequency.next_update_due(update, sample, batch) == expected


def test_next_update_due_is_none_for_epoch_only_frequencies() -> None:
    assert Frequency(every_n_epochs=2).next_update_due(4, 32, 8) is None
