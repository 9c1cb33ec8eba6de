"""noether-train in-process: exit codes, messages, run folder contents."""

from __future__ import annotations

import functools
import logging
import random
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig
from noether.config.schemas.tracker import NoopTrackerConfig
from noether.core.cli import run
from noether.core.cli_run import resume_command
from noether.core.cli_train import final_losses
from noether.core.models import ModelBase
from noether.core.trackers.log_writer import LogWriter
from noether.core.trackers.noop import NoopTracker
from noether.core.trainer.base import BaseTrainer

torch.set_num_threads(1)
HERE = __name__


class CliDatasetConfig(DatasetConfig):
    kind: str = "core_cli_test_dataset"
    target: ClassVar[str] = f"{HERE}:CliDataset"


class CliModelConfig(ModelConfig):
    kind: str = "core_cli_test_model"
    target: ClassVar[str] = f"{HERE}:CliModel"


class CliTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    kind: str = "core_cli_test_trainer"
    target: ClassVar[str] = f"{HERE}:CliTrainer"


class CliDataset(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, config: CliDatasetConfig) -> None:
        pass

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": torch.full((2,), float(index)), "y": torch.ones(1)}


class CliModel(ModelBase):
    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__(model_config)
        self.layer = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class CliTrainer(BaseTrainer):
    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


CONFIG = """\
name: cli
output_path: {output}
device: cpu
datasets:
  train: {{kind: core_cli_test_dataset}}
model:
  kind: core_cli_test_model
  optimizer: {{kind: sgd, lr: 0.01}}
trainer:
  kind: core_cli_test_trainer
  max_updates: 2
  effective_batch_size: 4
  add_default_callbacks: false
  forward_properties: [x]
  target_properties: [y]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(CONFIG.format(output=tmp_path / "runs"))
    return path


def test_training_run_writes_config_and_log_and_exits_0(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers_before = list(logging.getLogger().handlers)
    assert run([str(config_file), "trainer.max_updates=3"]) == 0
    (run_dir,) = (tmp_path / "runs" / "cli").iterdir()
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["trainer"]["max_updates"] == 3  # the override is in the resolved config
    assert resolved["trainer"]["precision"] == "float32"  # defaults are filled in
    assert resolved["tracker"] == {"kind": "jsonl", "filename": "metrics.jsonl"}
    log = (run_dir / "train.log").read_text()
    assert "-> run folder" in log and "finished run" in log
    assert (run_dir / "metrics.jsonl").is_file()
    assert logging.getLogger().handlers == handlers_before  # handlers removed again


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_bad_config_exits_1_with_file_line_key_messages(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = config_file.read_text().replace("max_updates: 2", "max_updates: -2\n  bogus: 1")
    config_file.write_text(text)
    lines = text.splitlines()
    max_updates_line = lines.index("  max_updates: -2") + 1
    bogus_line = lines.index("  bogus: 1") + 1
    assert run([str(config_file)]) == 1
    err = capsys.readouterr().err
    assert f"{config_file}:{max_updates_line}: trainer.max_updates:" in err
    assert f"{config_file}:{bogus_line}: trainer.bogus:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # no run folder for an invalid config


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_this_machine_lacks_is_reported_at_its_line_before_a_run_folder(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([str(config_file), "device=cuda:1"]) == 1
    err = capsys.readouterr().err
    assert f"{config_file}:3 (set by override 'device=cuda:1'): device: 'cuda:1' was " in err
    assert "CUDA is not available here" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_missing_resume_run_exits_1_without_traceback(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run([str(config_file), "trainer.initializer={kind: resume, run: no-such-run}"])
    assert code == 1
    err = capsys.readouterr().err
    assert "no run folder 'no-such-run'" in err
    assert "Traceback" not in err


def test_resume_of_a_folder_that_is_none_or_no_run_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, empty, a_file = tmp_path / "runs/cli/nope", tmp_path / "empty", tmp_path / "f.txt"
    empty.mkdir()
    a_file.write_text("")
    assert run(["--resume", str(missing)]) == 2
    assert f"--resume {missing}: does not exist (give a run folder" in capsys.readouterr().err
    assert run(["--resume", str(a_file)]) == 2
    assert f"--resume {a_file}: is no folder" in capsys.readouterr().err
    assert run(["--resume", str(empty)]) == 2
    assert f"--resume {empty}: not a run folder (it has no config.yaml)" in capsys.readouterr().err


def test_dataset_smaller_than_a_batch_is_reported_without_traceback(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([str(config_file), "trainer.effective_batch_size=64"]) == 1
    err = capsys.readouterr().err
    assert "fewer than effective_batch_size" in err
    assert "Traceback" not in err
    (run_dir,) = (tmp_path / "runs" / "cli").iterdir()
    log = (run_dir / "train.log").read_text()
    assert "fewer than effective_batch_size" in log
    assert "Traceback" in log  # the details stay available in the run's log


def test_final_losses_are_the_loss_keys_of_the_log_writer() -> None:
    writer = LogWriter(NoopTracker(NoopTrackerConfig()))
    writer.add_scalar("loss/val/pressure", 0.0213)
    writer.add_scalar("loss/online/total", torch.tensor(0.5))
    writer.add_scalar("optim/lr", 0.1)
    writer.flush(SimpleNamespace(update=1, epoch=0, sample=4))
    trainer = SimpleNamespace(log_writer=writer)
    assert final_losses(trainer) == {"loss/online/total": 0.5, "loss/val/pressure": 0.0213}


def test_the_resume_command_quotes_a_run_folder_that_a_shell_would_split() -> None:
    run_dir = Path("/tmp/sp ace/ü dir/quickstart/sig")
    command = resume_command(run_dir, checkpoint="E1_U4_S64")
    assert shlex.split(command) == [
        "noether-train",
        "--resume",
        str(run_dir),
        "--checkpoint",
        "E1_U4_S64",
    ]


NET_MODULE = """\
from pathlib import Path
from typing import ClassVar

import torch

from noether.config import ModelConfig
from noether.core.models import ModelBase


class NetConfig(ModelConfig):
    target: ClassVar[str] = "sweep_net:Net"


class Net(ModelBase):
    def __init__(self, model_config):
        super().__init__(model_config)
        Path(__file__).with_name("built_here").touch()  # which folder's code ran
        self.layer = torch.nn.Linear(2, 1)

    def forward(self, x):
        return self.layer(x)
"""


def test_runs_in_a_loop_leave_the_callers_generators_threads_and_modules_as_they_were(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A sweep calling `run` in a loop: each trial draws anew, evaluation keeps its threads,
    and a second project whose module has the first's name trains its own code."""
    import numpy as np

    request.addfinalizer(functools.partial(torch.set_num_threads, torch.get_num_threads()))
    torch.set_num_threads(2)
    configs = []
    for project in ("a", "b"):
        folder = tmp_path / project
        folder.mkdir()
        (folder / "sweep_net.py").write_text(NET_MODULE)
        config = CONFIG.format(output=tmp_path / "runs").replace(
            "kind: core_cli_test_model", "kind: sweep_net:NetConfig"
        )
        (folder / "experiment.yaml").write_text(config)
        configs.append(folder / "experiment.yaml")
    path = list(sys.path)
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    draws = []
    for config in configs:
        state = (random.getstate(), torch.get_rng_state())
        assert run([str(config), "num_threads=1", "seed=5"]) == 0
        assert (random.getstate(), torch.get_num_threads()) == (state[0], 2)
        assert torch.equal(torch.get_rng_state(), state[1])
        draws.append((random.random(), float(np.random.rand()), torch.rand(1).item()))
    assert draws[0] != draws[1]  # not both drawn from the run's seed 5
    assert (tmp_path / "a" / "built_here").is_file()
    assert (tmp_path / "b" / "built_here").is_file()  # b's own module, not a's again
    assert sys.path == path and "sweep_net" not in sys.modules
