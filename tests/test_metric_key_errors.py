"""A metric_key that no callback logs is named before training, with the closest logged key.

`loss/val/totl` next to an offline_loss on `val` passed `noether-config validate` (the
offline_loss "logs loss/val/<anything>"), and the run failed after its first epoch. Where the
config tells every key (the weighted-loss trainer's loss names, the built-in callback kinds),
validation now names the reader's line and the key it probably meant; where only the run
knows (a user's trainer), the run's message suggests it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, noether_train  # noqa: E402


def validate(tmp_path: Path, base: str, reader: str) -> subprocess.CompletedProcess[str]:
    """`noether-config validate` of a copy of the quickstart's `base` with an offline_loss on
    val and `reader` after it (the reader on line 6)."""
    shutil.copytree(QUICKSTART, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"extends: {base}\ntrainer:\n  callbacks:\n"
        "    - {kind: offline_loss, dataset_key: val, every_n_epochs: 2}\n"
        "    - {kind: checkpoint, every_n_epochs: 2}\n"
        f"    - {reader}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [str(BIN / "noether-config"), "validate", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("reader", "message"),
    [
        (
            "{kind: best_checkpoint, every_n_epochs: 2, metric_key: loss/val/totl}",
            "trainer.callbacks.2.metric_key: 'loss/val/totl' is not logged: trainer.callbacks.0 "
            "(offline_loss) logs loss/val/pressure, loss/val/pressure_unweighted, loss/val/total;"
            " did you mean 'loss/val/total'?",
        ),
        (
            "{kind: metric_early_stopper, every_n_epochs: 2, metric_key: loss/test/total}",
            "trainer.callbacks.2.metric_key: no callback logs 'loss/test/total' (they log: "
            "loss/val/pressure, loss/val/pressure_unweighted, loss/val/total); did you mean "
            "'loss/val/total'?",
        ),
        (
            "{kind: best_metric, every_n_epochs: 2, metric_key: outputs/max_error}",
            "trainer.callbacks.2.metric_key: no callback logs 'outputs/max_error'",
        ),
    ],
    ids=["misspelt_field", "no_such_dataset", "no_track_outputs"],
)
def test_validate_names_a_metric_key_that_nothing_logs(
    tmp_path: Path, reader: str, message: str
) -> None:
    done = validate(tmp_path, "config.yaml", reader)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"exp.yaml:6: {message}" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("base", "key"),
    [
        ("config.yaml", "loss/val/pressure_unweighted"),  # logged
        ("config.yaml", "loss/online/total"),  # the loop's own losses: left to the run
        ("config.yaml", "acme/custom"),  # a family no built-in callback logs
        ("all_callbacks.yaml", "loss/val/max_abs_error"),  # a user's trainer may log more
    ],
)
def test_keys_the_config_cannot_rule_out_stay_valid(tmp_path: Path, base: str, key: str) -> None:
    reader = f"{{kind: best_metric, every_n_epochs: 2, metric_key: {key}}}"
    done = validate(tmp_path, base, reader)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_run_suggests_the_closest_logged_key(tmp_path: Path) -> None:
    """A user's trainer: only the run knows its losses; the message names the closest."""
    reader = "[{kind: best_metric, every_n_updates: 8, metric_key: loss/online/totl}]"
    done = noether_train(tmp_path, CONFIG, f"trainer.callbacks={reader}", "trainer.max_epochs=1")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "metric 'loss/online/totl' has not been logged" in done.stderr
    assert "; did you mean 'loss/online/total'?" in done.stderr


def test_a_key_a_users_callback_may_log_stays_valid(tmp_path: Path) -> None:
    """A user's callback kind can log into the offline_loss's family (`loss/val/<its own>`):
    only the run knows, so validation does not call a reader of that key misspelt."""
    shutil.copytree(QUICKSTART, tmp_path, dirs_exist_ok=True)
    (tmp_path / "acme_callbacks.py").write_text(
        "from typing import ClassVar\n"
        "from noether.config import CallbackConfig\n\n\n"
        "class ValStatsConfig(CallbackConfig):\n"
        '    kind: str = "acme_callbacks:ValStatsConfig"\n'
        '    target: ClassVar[str] = "acme_callbacks:ValStats"\n',
        encoding="utf-8",
    )
    path = tmp_path / "exp.yaml"
    path.write_text(
        "extends: config.yaml\ntrainer:\n  callbacks:\n"
        "    - {kind: offline_loss, dataset_key: val, every_n_epochs: 2}\n"
        "    - {kind: acme_callbacks:ValStatsConfig, every_n_epochs: 2}\n"
        "    - {kind: best_metric, every_n_epochs: 2, metric_key: loss/val/max_abs_error}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(BIN / "noether-config"), "validate", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
