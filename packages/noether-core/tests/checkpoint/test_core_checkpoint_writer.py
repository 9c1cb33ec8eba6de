"""CheckpointWriter: files per tag, atomic replacement, loading back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from noether.config import ModelConfig
from noether.config.schemas.optimizer import AdamWConfig
from noether.core.checkpoint.folders import read_manifest
from noether.core.checkpoint.writer import CheckpointWriter, atomic_save
from noether.core.counters import UpdateCounter
from noether.core.models import ModelBase
from noether.core.runs import PathProvider

torch.set_num_threads(1)


class WriterModelConfig(ModelConfig):
    kind: str = "tests.writer_model"
    target: ClassVar[str] = ""


class WriterModel(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.layer = nn.Linear(2, 2)


def trained_model() -> WriterModel:
    model = WriterModel(WriterModelConfig(optimizer=AdamWConfig(lr=0.01)))
    model.initialize(total_updates=10)
    model.layer(torch.ones(1, 2)).sum().backward()
    model.optimizer_step(None)
    return model


def test_save_writes_model_optim_and_trainer_files(tmp_path: Path) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    model = trained_model()
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=2)
    counter.add_update()
    folder = writer.save(model, counter, counter.tag)
    assert folder.name == "E0_U1_S4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.json",
        "model.pt",
        "optim.pt",
        "trainer.pt",
    ]
    loaded = CheckpointWriter.load(writer.path_provider.run_dir, "E0_U1_S4")
    torch.testing.assert_close(loaded["model"]["layer.weight"], model.layer.weight)
    assert loaded["optim"]["state"][0]["step"].item() == 1
    assert loaded["trainer"] == {"epoch": 0, "update": 1, "sample": 4}


def test_save_latest_overwrites_and_flags_select_files(tmp_path: Path) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    model = trained_model()
    writer.save_latest(model, None, save_optim=False)
    assert sorted(p.name for p in (writer.path_provider.checkpoint_dir / "latest").iterdir()) == [
        "checkpoint.json",
        "model.pt",
    ]
    with torch.no_grad():
        model.layer.weight.fill_(7.0)
    writer.save_latest(model, None, save_optim=False)
    loaded = CheckpointWriter.load(writer.path_provider.run_dir)
    assert torch.all(loaded["model"]["layer.weight"] == 7.0)


def test_a_checkpoint_published_also_as_latest_is_written_once_and_lists_it(
    tmp_path: Path,
) -> None:
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=2)
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"), counter)
    model = trained_model()
    counter.add_update()
    folder = writer.save(model, counter, counter.tag, also_as={"latest": ["model.pt"]})
    latest = writer.path_provider.checkpoint_dir / "latest"
    assert sorted(p.name for p in latest.iterdir()) == ["checkpoint.json", "model.pt"]
    assert (latest / "model.pt").samefile(folder / "model.pt")
    assert read_manifest(folder).aliases == {"latest": ("model.pt",)}  # type: ignore[union-attr]
    assert read_manifest(latest).update == 1  # type: ignore[union-attr]
    # a second write at the same position (an early stopper's final checkpoint) keeps the list
    writer.save(model, counter, counter.tag)
    assert read_manifest(folder).aliases == {"latest": ("model.pt",)}  # type: ignore[union-attr]


def test_a_repeat_of_a_checkpoint_held_in_the_same_update_is_written_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stopper's final checkpoint after the checkpoint callback's, at one update: the state
    between the same two updates, written (and logged) twice before; a write with a file more
    is still made."""
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=2)
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"), counter)
    model = trained_model()
    counter.add_update()
    caplog.set_level("INFO", logger="noether.core.checkpoint.writer")

    writer.hold()
    writer.save(model, counter, counter.tag, also_as={"latest": ["model.pt"]})
    writer.save(model, counter, counter.tag)  # the stopper's: no file or alias more
    writer.save(model, counter, counter.tag, save_optim=False, save_trainer=False)
    writer.release()
    saved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("saved")]
    assert saved == [f"saved checkpoint {writer.checkpoint_dir / counter.tag}"]
    assert read_manifest(writer.checkpoint_dir / "latest").update == 1  # type: ignore[union-attr]

    caplog.clear()
    counter.add_update()
    writer.hold()
    writer.save(model, counter, counter.tag, save_optim=False, save_trainer=False)
    writer.save(model, counter, counter.tag)  # optimizer and trainer state more
    writer.release()
    assert len([r for r in caplog.records if r.getMessage().startswith("saved")]) == 2
    files = sorted(p.name for p in (writer.checkpoint_dir / counter.tag).iterdir())
    assert files == ["checkpoint.json", "model.pt", "optim.pt", "trainer.pt"]


def test_failed_write_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ckpt" / "model.pt"
    atomic_save({"w": torch.ones(3)}, target)
    original = target.read_bytes()

    def save_half_then_fail(obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:
        file.write(b"\x80\x02half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        atomic_save({"w": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert target.read_bytes() == original
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.pt"]  # no temp left


def test_loading_a_missing_tag_names_the_existing_ones(tmp_path: Path) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    writer.save(trained_model(), None, "E1_U5_S20")
    with pytest.raises(FileNotFoundError, match="E1_U5_S20"):
        CheckpointWriter.load(writer.path_provider.run_dir, "E9_U9_S9")


def test_wrapped_model_is_saved_without_wrapper_prefixes(tmp_path: Path) -> None:
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"))
    model = trained_model()

    class Wrapper(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self._orig_mod = inner

    folder = writer.save(Wrapper(model), None, "t", save_optim=False)
    assert set(torch.load(folder / "model.pt", weights_only=True)) == {
        "layer.weight",
        "layer.bias",
    }


def test_a_signal_checkpoint_deletes_only_the_older_signal_checkpoints(tmp_path: Path) -> None:
    counter = UpdateCounter(updates_per_epoch=5, effective_batch_size=4, max_epochs=4)
    writer = CheckpointWriter(PathProvider(tmp_path, "exp"), counter)
    model = trained_model()
    written = {}
    for update, tag in ((1, "sigterm_"), (2, "sigint_"), (3, ""), (4, "sigterm_"), (6, "sigterm_")):
        while counter.update < update:
            counter.add_update()
        written[update] = writer.save(model, None, f"{tag}{counter.tag}").name
    newest = written[4]  # as if a resume from update 4 left the one at 6 behind

    deleted = writer.remove_older_signal_checkpoints(newest)

    assert sorted(deleted) == sorted([written[1], written[2]])
    left = sorted(p.name for p in writer.checkpoint_dir.iterdir())
    assert left == sorted([written[3], newest, written[6]])


_MANIFEST_PAST_FILE_LIMIT = """
import resource, sys
from pathlib import Path
from torch import nn
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.runs import PathProvider
provider = PathProvider(Path(sys.argv[1]), "exp", "run")
provider.config_path.write_text("# a long config\\n" * 2000)  # the manifest holds a copy
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))  # Python ignores SIGXFSZ: EFBIG
try:
    CheckpointWriter(provider).save(nn.Linear(2, 2), None, "E0_U1_S4")
except OSError as error:
    print(error.errno, error.filename)
"""


def test_a_manifest_past_the_file_size_limit_names_it_and_leaves_no_staging_folder(
    tmp_path: Path,
) -> None:
    """A disk that fills as the manifest is written (the model files fit): the error names
    the checkpoint's manifest, and the staging folder does not stay on the full disk."""
    import errno
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _MANIFEST_PAST_FILE_LIMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    checkpoints = tmp_path / "exp" / "run" / "checkpoints"
    assert done.stdout.split() == [
        str(errno.EFBIG),
        str(checkpoints / "E0_U1_S4" / "checkpoint.json"),
    ]
    assert list(checkpoints.iterdir()) == []
