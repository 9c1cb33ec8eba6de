"""build_experiment: components from their kinds' targets, seeding and device resolution."""

from __future__ import annotations

import abc
import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from noether.config import (
    BaseTrainerConfig,
    CallbackConfig,
    DatasetConfig,
    ExperimentConfig,
    KindError,
    ModelConfig,
)
from noether.core.build import (
    BuildError,
    build_component,
    build_experiment,
    resolve_device,
    seed_everything,
)
from noether.core.models import ModelBase
from noether.core.runs import PathProvider
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)
HERE = __name__


class BuildDatasetConfig(DatasetConfig):
    kind: str = "core_build_test_dataset"
    target: ClassVar[str] = f"{HERE}:BuildDataset"
    size: int = 8


class BuildModelConfig(ModelConfig):
    kind: str = "core_build_test_model"
    target: ClassVar[str] = f"{HERE}:BuildModel"


class NotAModelConfig(ModelConfig):
    kind: str = "core_build_test_not_a_model"
    target: ClassVar[str] = "torch.nn:Identity"


class MissingPackageModelConfig(ModelConfig):
    kind: str = "core_build_test_missing"
    target: ClassVar[str] = "acme_surrogates.models:Transolver"


class AbstractDatasetConfig(DatasetConfig):
    kind: str = "core_build_test_abstract_dataset"
    target: ClassVar[str] = f"{HERE}:AbstractDataset"


class AbstractDataset(Dataset[Any], abc.ABC):
    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def load(self, index: int) -> Any:
        """What a subclass must provide."""


class BuildTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "core_build_test_trainer"
    target: ClassVar[str] = f"{HERE}:BuildTrainer"


class BuildDataset(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, config: BuildDatasetConfig) -> None:
        self.config = config

    def __len__(self) -> int:
        return self.config.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": torch.full((2,), float(index)), "y": torch.zeros(1)}


class BuildModel(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.layer = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class BuildTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


class LosslessTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "core_build_test_lossless_trainer"
    target: ClassVar[str] = f"{HERE}:LosslessTrainer"


class LosslessTrainer(BaseTrainer):
    """Neither loss_compute nor train_step: a trainer kind that cannot train."""


def experiment(tmp_path: Path, **overrides: Any) -> ExperimentConfig:
    data: dict[str, Any] = {
        "name": "built",
        "output_path": str(tmp_path / "runs"),
        "seed": 5,
        "device": "cpu",
        "datasets": {"train": {"kind": "core_build_test_dataset"}},
        "model": {"kind": "core_build_test_model", "optimizer": {"kind": "sgd", "lr": 0.1}},
        "trainer": {
            "kind": "core_build_test_trainer",
            "max_updates": 2,
            "effective_batch_size": 4,
            "forward_properties": ["x"],
            "target_properties": ["y"],
            "add_default_callbacks": False,
        },
    }
    data.update(overrides)
    return ExperimentConfig.model_validate(data)


def test_build_experiment_builds_every_component_from_its_target(tmp_path: Path) -> None:
    built = build_experiment(experiment(tmp_path))
    try:
        assert isinstance(built.model, BuildModel)
        assert isinstance(built.trainer, BuildTrainer)
        assert isinstance(built.tracker, JsonlTracker)
        assert isinstance(built.data_container.get_dataset("train"), BuildDataset)
        assert built.device == torch.device("cpu")
        assert built.path_provider.run_dir.parent == tmp_path / "runs" / "built"
        assert built.tracker.is_active
        built.trainer.train(built.model)
        assert built.trainer.update_counter.update == 2
    finally:
        built.tracker.close()


def test_same_seed_gives_the_same_initial_weights(tmp_path: Path) -> None:
    first = build_experiment(experiment(tmp_path))
    second = build_experiment(experiment(tmp_path))
    other = build_experiment(experiment(tmp_path, seed=6))
    for built in (first, second, other):
        built.tracker.close()
    torch.testing.assert_close(first.model.layer.weight, second.model.layer.weight)
    assert not torch.equal(first.model.layer.weight, other.model.layer.weight)
    assert first.path_provider.run_dir != second.path_provider.run_dir


def test_given_path_provider_is_used(tmp_path: Path) -> None:
    provider = PathProvider(tmp_path / "elsewhere", "built", run_id="fixed")
    built = build_experiment(experiment(tmp_path), provider)
    built.tracker.close()
    assert built.path_provider is provider
    assert (provider.run_dir / "metrics.jsonl").is_file()


def test_a_model_that_is_not_a_model_base_is_a_build_error(tmp_path: Path) -> None:
    config = experiment(tmp_path, model={"kind": "core_build_test_not_a_model"})
    with pytest.raises(BuildError, match=r"not a noether\.core\.models\.ModelBase"):
        build_experiment(config)


def test_missing_package_of_a_kind_is_named() -> None:
    with pytest.raises(KindError, match="install the package 'acme-surrogates'"):
        build_component(MissingPackageModelConfig())


class KeywordTrainer(BuildTrainer):
    """The seed's docstring form: the config positional, the rest by keyword."""

    def __init__(self, trainer_config: Any, **kwargs: Any) -> None:
        super().__init__(trainer_config, **kwargs)


class PositionalOnlyTrainer(BuildTrainer):
    def __init__(self, trainer_config: Any, data_container: Any, /, **kwargs: Any) -> None:
        super().__init__(trainer_config, data_container, **kwargs)


class KeywordTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "core_build_test_keyword_trainer"
    target: ClassVar[str] = f"{HERE}:KeywordTrainer"


class PositionalOnlyTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "core_build_test_positional_trainer"
    target: ClassVar[str] = f"{HERE}:PositionalOnlyTrainer"


def test_a_trainer_taking_keywords_after_its_config_is_built(tmp_path: Path) -> None:
    trainer = {
        **experiment(tmp_path).trainer.model_dump(),
        "kind": "core_build_test_keyword_trainer",
    }
    built = build_experiment(experiment(tmp_path, trainer=trainer))
    built.tracker.close()
    assert isinstance(built.trainer, KeywordTrainer)
    assert built.trainer.path_provider is built.path_provider


def test_a_constructor_that_does_not_fit_names_the_class_and_signature(tmp_path: Path) -> None:
    trainer = {
        **experiment(tmp_path).trainer.model_dump(),
        "kind": "core_build_test_positional_trainer",
    }
    with pytest.raises(BuildError) as caught:
        build_experiment(experiment(tmp_path, trainer=trainer))
    message = str(caught.value)
    assert message.startswith(f"cannot build {HERE}:PositionalOnlyTrainer (kind ")
    assert "PositionalOnlyTrainer(trainer_config: 'Any', data_container: 'Any', /" in message
    assert "PositionalOnlyTrainer(config, data_container=..., device=..., tracker=..." in message
    assert message.endswith("super().__init__(config, **kwargs)")
    assert isinstance(caught.value.__cause__, TypeError)


class RootFirstDataset(Dataset[Any]):
    def __init__(self, root: str, config: Any) -> None:
        self.root = root


class RootFirstDatasetConfig(DatasetConfig):
    kind: str = "core_build_test_root_first_dataset"
    target: ClassVar[str] = f"{HERE}:RootFirstDataset"


def test_a_dataset_that_does_not_fit_is_told_to_take_the_config_alone() -> None:
    """It was told to call super().__init__(config, **kwargs), which a torch Dataset refuses."""
    with pytest.raises(BuildError) as caught:
        build_component(RootFirstDatasetConfig())
    message = str(caught.value)
    assert "noether builds it as RootFirstDataset(config); its signature is " in message
    assert message.endswith("Take the config alone, e.g. def __init__(self, config)")


class TypeErrorDataset:
    """Fits the call; its own code raises a TypeError (a bug of the user's, not a mismatch)."""

    def __init__(self, config: Any) -> None:
        self.points = len(None)  # type: ignore[arg-type]


class TypeErrorDatasetConfig(DatasetConfig):
    kind: str = "core_build_test_type_error_dataset"
    target: ClassVar[str] = f"{HERE}:TypeErrorDataset"


def test_a_type_error_inside_a_constructor_that_fits_is_its_own_error() -> None:
    """Reported as a signature mismatch, it sent the user to fix a signature that was fine."""
    with pytest.raises(TypeError, match="has no len") as caught:
        build_component(TypeErrorDatasetConfig())
    assert not isinstance(caught.value, BuildError)
    assert caught.traceback[-1].name == "__init__"


def test_an_abstract_class_is_named_with_the_methods_it_lacks() -> None:
    # not a constructor mismatch: the signature hint would send the user the wrong way
    with pytest.raises(BuildError) as caught:
        build_component(AbstractDatasetConfig())
    message = str(caught.value)
    assert message == (
        f"cannot build {HERE}:AbstractDataset (kind 'core_build_test_abstract_dataset'): "
        "AbstractDataset does not implement the abstract method(s) load; define them in the "
        "class"
    )


def test_a_trainer_kind_without_a_loss_is_told_both_ways_to_give_it_one(tmp_path: Path) -> None:
    trainer = {"kind": "core_build_test_lossless_trainer", "max_updates": 2}
    batches = {"effective_batch_size": 4, "forward_properties": ["x"], "target_properties": ["y"]}
    config = experiment(tmp_path, trainer={**trainer, **batches})
    with pytest.raises(BuildError) as caught:
        build_experiment(config)
    assert str(caught.value).endswith(
        "LosslessTrainer does not implement the abstract method(s) loss_compute; implement "
        "loss_compute(forward_output, targets) to compute the loss from the model's output, or "
        "override train_step(batch, model) to run the model and compute it itself"
    )


def test_seed_everything_seeds_python_numpy_and_torch() -> None:
    seed_everything(11)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(11)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_resolve_device_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_asking_for_cuda_without_cuda_is_a_clear_error() -> None:
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(BuildError, match="CUDA is not available"):
            resolve_device(spec)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_that_does_not_exist_is_a_clear_error() -> None:
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(BuildError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
