"""What a newer checkpoint makes of a signal checkpoint and the `latest` it published: a run
stopped by SIGTERM and resumed to its end kept `latest` at the stop's weights, next to the
newer checkpoints (`load_model(run, checkpoint="latest")` read them), and kept the signal
checkpoint itself."""

from __future__ import annotations

from pathlib import Path

import torch

from noether.core.checkpoint.folders import LATEST_TAG, UNIT_FILES, read_manifest
from noether.core.checkpoint.writer import CheckpointWriter, signal_tag
from noether.core.counters import UpdateCounter
from noether.core.runs import PathProvider
from noether.core.testing import LinearModel, make_model


def trained_model() -> LinearModel:
    model = make_model()
    model.initialize(total_updates=10)
    return model


def _stopped_at_update_2(tmp_path: Path) -> tuple[CheckpointWriter, UpdateCounter, str]:
    """A writer whose run a SIGTERM stopped after update 2 (its checkpoint also as latest)."""
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=4)
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"), counter)
    counter.add_update()
    counter.add_update()
    stop = signal_tag("SIGTERM", counter.tag)
    writer.save(trained_model(), counter, stop, also_as={LATEST_TAG: UNIT_FILES})
    counter.add_update()
    return writer, counter, stop


def _folders(writer: CheckpointWriter) -> list[str]:
    return sorted(path.name for path in writer.checkpoint_dir.iterdir())


def test_a_newer_resumable_checkpoint_retires_the_signal_checkpoint_and_its_latest(
    tmp_path: Path,
) -> None:
    writer, counter, _ = _stopped_at_update_2(tmp_path)
    writer.save(trained_model(), counter, counter.tag)
    assert _folders(writer) == [counter.tag]


def test_a_newer_weights_only_checkpoint_keeps_the_signal_checkpoint_to_resume_from(
    tmp_path: Path,
) -> None:
    writer, counter, stop = _stopped_at_update_2(tmp_path)
    writer.save(trained_model(), None, counter.tag, save_optim=False, save_trainer=False)
    assert _folders(writer) == sorted([stop, counter.tag])  # latest named older weights


def test_files_of_other_callbacks_in_latest_stay_without_the_stale_checkpoint(
    tmp_path: Path,
) -> None:
    writer, counter, _ = _stopped_at_update_2(tmp_path)
    ema = {"layer.weight": torch.ones(2, 2)}
    writer.save_object(ema, LATEST_TAG, "model_ema=0.99.pt")
    writer.save(trained_model(), counter, counter.tag)
    latest = writer.checkpoint_dir / LATEST_TAG
    assert sorted(path.name for path in latest.iterdir()) == ["model_ema=0.99.pt"]
    assert read_manifest(latest) is None
    assert torch.equal(
        torch.load(latest / "model_ema=0.99.pt")["layer.weight"], ema["layer.weight"]
    )


def test_an_error_checkpoint_or_the_signal_checkpoint_itself_retires_nothing(
    tmp_path: Path,
) -> None:
    writer, counter, stop = _stopped_at_update_2(tmp_path)
    error = f"error_{counter.tag}"
    writer.save(trained_model(), counter, error)
    assert _folders(writer) == sorted([stop, LATEST_TAG, error])
    assert read_manifest(writer.checkpoint_dir / LATEST_TAG).tag == stop  # type: ignore[union-attr]


def test_a_latest_that_the_checkpoint_callback_writes_is_left_to_it(tmp_path: Path) -> None:
    writer, counter, stop = _stopped_at_update_2(tmp_path)
    writer.save_latest(trained_model(), counter, save_optim=False, save_trainer=False)
    latest = read_manifest(writer.checkpoint_dir / LATEST_TAG)
    assert latest is not None and latest.update == 3 and stop in _folders(writer)
    writer.save(trained_model(), counter, counter.tag, save_optim=False, save_trainer=False)
    assert read_manifest(writer.checkpoint_dir / LATEST_TAG) == latest
