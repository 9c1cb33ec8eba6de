"""Resume restores weights, optimizer and trainer state; checkpoint loads weights only."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn

from noether.config import ModelConfig
from noether.config.schemas.initializer import (
    CheckpointInitializerConfig,
    ResumeInitializerConfig,
)
from noether.config.schemas.optimizer import AdamWConfig
from noether.core.checkpoint.initializers import InitializerError, ResumeInitializer
from noether.core.checkpoint.weights_initializer import CheckpointInitializer
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.counters import UpdateCounter
from noether.core.models import ModelBase
from noether.core.runs import PathProvider

torch.set_num_threads(1)


class InitModelConfig(ModelConfig):
    kind: str = "tests.init_model"
    target: ClassVar[str] = ""
    width: int = 4


class InitModel(ModelBase):
    def __init__(self, model_config: InitModelConfig) -> None:
        super().__init__(model_config)
        self.body = nn.Linear(3, model_config.width)
        self.head = nn.Linear(model_config.width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


def new_model(seed: int, **fields: object) -> InitModel:
    torch.manual_seed(seed)
    model = InitModel(InitModelConfig(optimizer=AdamWConfig(lr=0.01), **fields))
    model.initialize(total_updates=20)
    return model


def train_steps(model: InitModel, steps: int) -> None:
    generator = torch.Generator().manual_seed(123)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=generator)
        model(x).pow(2).mean().backward()
        model.optimizer_step(None)
        model.optimizer_zero_grad()


def saved_run(tmp_path: Path) -> tuple[PathProvider, InitModel, UpdateCounter]:
    provider = PathProvider(tmp_path, "exp")
    model = new_model(seed=0)
    train_steps(model, 3)
    counter = UpdateCounter(updates_per_epoch=10, effective_batch_size=8, max_updates=20)
    for _ in range(3):
        counter.add_update()
    CheckpointWriter(provider).save_latest(model, counter)
    return provider, model, counter


def test_resume_restores_weights_optimizer_and_trainer_state(tmp_path: Path) -> None:
    provider, original, _ = saved_run(tmp_path)
    resumed = new_model(seed=1)
    counter = UpdateCounter(updates_per_epoch=10, effective_batch_size=8, max_updates=20)
    new_provider = PathProvider(tmp_path, "exp")
    initializer = ResumeInitializer(ResumeInitializerConfig(run=provider.run_id), new_provider)
    assert initializer.run_dir == provider.run_dir
    initializer.apply(resumed, counter)
    for (name, a), (_, b) in zip(
        original.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)
    assert (counter.update, counter.sample) == (3, 24)
    # continuing both gives identical weights: the Adam moments were restored too
    train_steps(original, 2)
    train_steps(resumed, 2)
    torch.testing.assert_close(original.head.weight, resumed.head.weight)
    assert resumed.optimizer is not None
    assert resumed.optimizer.state_dict()["state"][0]["step"].item() == 5


def test_resume_reads_the_checkpoint_when_prepared_and_lets_it_go_once_restored(
    tmp_path: Path,
) -> None:
    provider, _, _ = saved_run(tmp_path)
    initializer = ResumeInitializer(ResumeInitializerConfig(run=provider.run_id), provider)
    initializer.prepare()
    (provider.checkpoint_dir / "latest" / "model.pt").unlink()  # read already: not needed
    loaded = weakref.ref(initializer.state["model"]["head.weight"])
    counter = UpdateCounter(updates_per_epoch=10, effective_batch_size=8, max_updates=20)
    initializer.apply(new_model(seed=1), counter)
    gc.collect()
    assert loaded() is None  # not held for the rest of the run
    assert counter.update == 3


def test_resume_by_folder_path_and_missing_parts_are_clear_errors(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path, "exp")
    model = new_model(seed=0)
    CheckpointWriter(provider).save(model, None, "E0_U1_S8", save_optim=False)
    config = ResumeInitializerConfig(run=str(provider.run_dir), checkpoint="E0_U1_S8")
    initializer = ResumeInitializer(config)
    initializer.init_weights(new_model(seed=5))
    with pytest.raises(InitializerError, match="optimizer state"):
        initializer.init_optimizer(new_model(seed=5))
    with pytest.raises(FileNotFoundError, match="no run folder"):
        ResumeInitializer(ResumeInitializerConfig(run="nope"), provider)


def test_checkpoint_initializer_loads_weights_only(tmp_path: Path) -> None:
    provider, original, _ = saved_run(tmp_path)
    target = new_model(seed=7)
    optimizer_state = target.optimizer.state_dict() if target.optimizer else None
    weights = provider.checkpoint_dir / "latest" / "model.pt"
    CheckpointInitializer(CheckpointInitializerConfig(path=str(weights))).init_weights(target)
    torch.testing.assert_close(target.head.weight, original.head.weight)
    assert target.optimizer is not None
    assert target.optimizer.state_dict() == optimizer_state  # untouched (empty) state
    # a folder holding model.pt works too
    other = new_model(seed=8)
    folder = provider.checkpoint_dir / "latest"
    CheckpointInitializer(CheckpointInitializerConfig(path=str(folder))).init_weights(other)
    torch.testing.assert_close(other.body.weight, original.body.weight)


def test_strict_checkpoint_initializer_rejects_differing_keys(tmp_path: Path) -> None:
    provider, original, _ = saved_run(tmp_path)
    weights = provider.checkpoint_dir / "latest" / "model.pt"
    state = torch.load(weights, weights_only=True)
    del state["head.bias"]
    state["extra.weight"] = torch.zeros(1)
    partial = tmp_path / "partial.pt"
    torch.save(state, partial)
    with pytest.raises(InitializerError, match=r"head\.bias"):
        CheckpointInitializer(CheckpointInitializerConfig(path=str(partial))).init_weights(
            new_model(seed=3)
        )
    lenient = new_model(seed=3)
    head_bias = lenient.head.bias.detach().clone()
    config = CheckpointInitializerConfig(path=str(partial), strict=False)
    CheckpointInitializer(config).init_weights(lenient)
    torch.testing.assert_close(lenient.body.weight, original.body.weight)
    torch.testing.assert_close(lenient.head.bias, head_bias)  # missing key left as it was


def test_non_strict_still_rejects_shape_mismatches(tmp_path: Path) -> None:
    provider, _, _ = saved_run(tmp_path)
    weights = provider.checkpoint_dir / "latest" / "model.pt"
    config = CheckpointInitializerConfig(path=str(weights), strict=False)
    with pytest.raises(InitializerError) as raised:
        CheckpointInitializer(config).init_weights(new_model(seed=0, width=6))
    message = str(raised.value)
    assert f"the weights in {weights} do not fit this model (was the model changed?): " in message
    assert "body.weight: shape (" in message and "\n" not in message


def test_weights_of_which_no_tensor_is_the_models_are_refused_even_when_not_strict(
    tmp_path: Path,
) -> None:
    provider, _, _ = saved_run(tmp_path)
    checkpoint = provider.checkpoint_dir / "latest"
    renamed = {f"net.{key}": value for key, value in torch.load(checkpoint / "model.pt").items()}
    torch.save(renamed, tmp_path / "renamed.pt")
    for path in (tmp_path / "renamed.pt", checkpoint / "trainer.pt", checkpoint / "optim.pt"):
        config = CheckpointInitializerConfig(path=str(path), strict=False)
        initializer = CheckpointInitializer(config)
        with pytest.raises(InitializerError) as raised:
            initializer.prepare(new_model(seed=3))
        message = str(raised.value)
        if path.name == "renamed.pt":
            assert message == (
                f"checkpoint initializer: none of the 4 tensors in {path} is one of this "
                "model's (the file's: net.body.weight, net.body.bias, net.head.weight, ... "
                "(1 more); the model's: body.weight, body.bias, head.weight, ... (1 more)): was "
                "the model renamed, or is it another file?"
            )
        else:  # a checkpoint's other files hold no tensors by parameter name
            assert f"{path} holds no model weights (tensors by parameter name)" in message


def test_a_strict_mismatch_of_keys_says_what_strict_false_does(tmp_path: Path) -> None:
    provider, _, _ = saved_run(tmp_path)
    weights = provider.checkpoint_dir / "latest" / "model.pt"
    config = CheckpointInitializerConfig(path=str(weights))
    wider = InitModel(InitModelConfig(optimizer=AdamWConfig(lr=0.01)))
    wider.extra = nn.Linear(1, 1)
    with pytest.raises(InitializerError) as raised:
        CheckpointInitializer(config).prepare(wider)
    assert str(raised.value).endswith(
        "extra.weight missing; extra.bias missing; strict: false loads the keys both have "
        "and skips the others"
    )
    lenient = CheckpointInitializer(CheckpointInitializerConfig(path=str(weights), strict=False))
    assert lenient.describe_fit(wider) == (
        f"4 of the model's 6 tensors from {weights} (2 left as initialised)"
    )


def test_checkpoint_initializer_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        CheckpointInitializer(CheckpointInitializerConfig(path=str(tmp_path / "missing.pt")))


def test_resume_warns_only_when_the_next_update_takes_another_lr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from noether.config.schemas.schedule import LinearScheduleConfig

    def run(max_updates: int) -> tuple[InitModel, Trainer]:
        torch.manual_seed(0)
        schedule = LinearScheduleConfig(start_value=1.0, end_value=0.0)
        model = InitModel(InitModelConfig(optimizer=AdamWConfig(lr=0.01, schedule=schedule)))
        model.initialize(total_updates=max_updates)
        return model, Trainer(max_updates)

    provider = PathProvider(tmp_path, "exp")
    model, trainer = run(11)
    train_steps(model, 4)
    for _ in range(4):
        model.optimizer_schedule_step()
        trainer.update_counter.add_update()
    CheckpointWriter(provider).save_latest(model, trainer.update_counter)
    config = ResumeInitializerConfig(run=provider.run_id)
    for max_updates, warned in ((11, False), (21, True)):
        caplog.clear()
        resumed, trainer = run(max_updates)
        ResumeInitializer(config, PathProvider(tmp_path, "exp")).apply(resumed, trainer)
        messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert bool(messages) is warned, messages
    # 21 updates: update 5 (index 4) takes 1 - 4/20 of the lr, the 11-update run 1 - 4/10
    assert messages == [
        "the learning rate of update 5 is 0.008, not 0.006 as the checkpoint's run set it: "
        "this config's optimizer or linear schedule sets it otherwise (the schedule now spans "
        "21 updates)"
    ]


class Trainer:
    """The part of a trainer that resuming restores: the counter."""

    def __init__(self, max_updates: int) -> None:
        self.update_counter = UpdateCounter(
            updates_per_epoch=10, effective_batch_size=8, max_updates=max_updates
        )

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.update_counter.load_state_dict(state)  # saved from the counter itself


def test_the_checkpoint_initializer_is_still_found_where_it_lived_before() -> None:
    from noether.core.checkpoint.initializers import CheckpointInitializer as Moved

    assert Moved is CheckpointInitializer
