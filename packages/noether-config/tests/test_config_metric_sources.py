"""`noether-config validate` checks the callbacks that read a metric against the one logging it.

best_checkpoint, metric_early_stopper and best_metric read `metric_key` as logged by an
earlier callback of the list; listed before it, or run when it does not run, they failed at
run time with a traceback (or read a stale value). Validation names the line of the reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noether.config.cli import app

Project = Callable[..., Path]
runner = CliRunner()

EVALUATE = "    - {kind: offline_loss, dataset_key: train, every_n_epochs: 2}\n"
STOPPER = "    - {kind: metric_early_stopper, every_n_epochs: %d, metric_key: %s}\n"


def with_callbacks(valid_yaml: str, callbacks: str) -> str:
    return valid_yaml.replace("tracker:", "  callbacks:\n" + callbacks + "tracker:")


def validate(project: Project, valid_yaml: str, callbacks: str) -> tuple[int, str]:
    folder = project(**{"run.yaml": with_callbacks(valid_yaml, callbacks)})
    result = runner.invoke(app, ["validate", str(folder / "run.yaml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        (  # listed before the callback that logs its metric
            "    - {kind: best_checkpoint, metric_key: loss/train/total, every_n_epochs: 2}\n"
            + EVALUATE,
            r"run\.yaml:\d+: trainer\.callbacks\.0\.metric_key: 'loss/train/total' is logged by "
            r"trainer\.callbacks\.1 \(offline_loss\), which runs after",
        ),
        (  # runs at epochs where the metric is not logged
            EVALUATE + STOPPER % (3, "loss/train/total"),
            r"run\.yaml:\d+: trainer\.callbacks\.1: metric_early_stopper runs every_n_epochs: 3, "
            r"but 'loss/train/total' is logged by trainer\.callbacks\.0 \(offline_loss\) "
            r"every_n_epochs: 2",
        ),
    ],
)
def test_a_metric_reader_out_of_step_with_its_source_is_invalid(
    project: Project, valid_yaml: str, callbacks: str, message: str
) -> None:
    code, output = validate(project, valid_yaml, callbacks)
    assert code == 1, output
    assert "Traceback" not in output

    assert re.search(message, output), output
    line = int(re.search(r"run\.yaml:(\d+):", output).group(1))  # type: ignore[union-attr]
    text = with_callbacks(valid_yaml, callbacks).splitlines()[line - 1]
    assert "metric_key" in text, text  # the reader's own line


def test_a_metric_reader_at_a_multiple_of_its_source_in_another_unit_or_unknown_is_valid(
    project: Project, valid_yaml: str
) -> None:
    callbacks = (
        EVALUATE
        + "    - {kind: best_checkpoint, metric_key: loss/train/total, every_n_epochs: 4}\n"
        + "    - {kind: best_metric, metric_key: loss/train/total, every_n_epochs: 2}\n"
        + STOPPER % (2, "best/loss/train/total")
        + "    - {kind: best_metric, metric_key: acme/custom, every_n_updates: 3}\n"
        # another unit: epochs and updates meet by the data's size (8 updates may be 2 epochs)
        + "    - {kind: best_metric, metric_key: loss/train/total, every_n_updates: 8}\n"
    )
    code, output = validate(project, valid_yaml, callbacks)
    assert code == 0, output


def in_updates(valid_yaml: str, trainer_lines: str = "") -> str:
    """The valid experiment run for 1000 updates, with more trainer settings."""
    return valid_yaml.replace("  max_epochs: 2\n", "  max_updates: 1000\n" + trainer_lines)


@pytest.mark.parametrize(
    ("trainer_lines", "reader", "message"),
    [
        (  # tracked every 1000 // 500 = 2 updates; at update 2 the defaults have not run yet
            "",
            STOPPER.replace("epochs", "updates") % (2, "loss/online/total"),
            r"trainer\.callbacks\.0\.every_n_updates: metric_early_stopper first reads "
            r"'loss/online/total' at update 2, but the default callbacks log it first at "
            r"update 2 \(track_every_n_updates unset: 1/500 of the run's 1000 updates\)",
        ),
        (
            "  log_every_n_updates: 10\n",
            "    - {kind: best_metric, metric_key: time/forward, every_n_updates: 4}\n",
            r"'time/forward' at update 4, but the default callbacks log it first at update 10 "
            r"\(trainer\.log_every_n_updates: 10\)",
        ),
        (
            "  monitor_training_stability: true\n  monitor_interval: 20\n",
            STOPPER.replace("epochs", "updates") % (20, "stability/grad_norm"),
            r"at update 20 \(trainer\.monitor_interval: 20\), after the callbacks of this list",
        ),
    ],
)
def test_a_reader_of_a_default_metric_before_its_first_row_is_invalid(
    project: Project, valid_yaml: str, trainer_lines: str, reader: str, message: str
) -> None:
    code, output = validate(project, in_updates(valid_yaml, trainer_lines), reader)
    assert code == 1, output
    assert "Traceback" not in output
    assert re.search(message, output), output
    line = int(re.search(r"run\.yaml:(\d+):", output).group(1))  # type: ignore[union-attr]
    text = with_callbacks(in_updates(valid_yaml, trainer_lines), reader).splitlines()[line - 1]
    assert "every_n_updates" in text, text  # the reader's own line


@pytest.mark.parametrize(
    ("trainer_lines", "reader"),
    [
        ("", STOPPER.replace("epochs", "updates") % (3, "loss/online/total")),
        ("  track_every_n_epochs: 1\n", STOPPER.replace("epochs", "updates") % (1, "optim/lr")),
        ("  add_default_callbacks: false\n", STOPPER.replace("epochs", "updates") % (1, "time/x")),
        ("  log_every_n_updates: 10\n", STOPPER % (1, "time/forward")),  # epochs: left to the run
    ],
)
def test_a_reader_of_a_default_metric_after_its_first_row_or_in_another_unit_is_valid(
    project: Project, valid_yaml: str, trainer_lines: str, reader: str
) -> None:
    code, output = validate(project, in_updates(valid_yaml, trainer_lines), reader)
    assert code == 0, output
