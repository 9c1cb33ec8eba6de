"""The documentation site builds with `mkdocs build --strict` and holds the seed API reference.

Strict mode turns every warning into a failure: a broken link between pages, an unresolved
cross-reference to an API object, a docstring mkdocstrings cannot parse.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def page_text(site: Path, page: str) -> str:
    text = (site / page / "index.html").read_text(encoding="utf-8")
    article = text[text.index("<article") : text.index("</article>")]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", article)))


def test_docs_build_strict_with_guides_and_api_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in (
        "quickstart",
        "writing-a-trainer",
        "models-and-datasets",
        "configs-and-kinds",
        "validating-in-ci",
        "distributed-and-resume",
    ):
        assert len(page_text(site, page)) > 2000, page
    trainers = page_text(site, "api/trainers")
    for name in ("BaseTrainer", "BaseTrainerConfig", "TrainerResult", "LossResult"):
        assert name in trainers, name
    # docstrings, not just names: a sentence of each seed class's docstring
    assert "subclasses say how to compute the loss" in trainers  # BaseTrainer
    assert "Sum of all losses, a scalar tensor" in trainers  # TrainerResult.total_loss
    assert "Trains a model whose forward returns one tensor per physical field" in trainers
    core = page_text(site, "api/core")
    assert "Base class of every model that noether trains" in core  # ModelBase
    assert "The run's datasets by name" in core  # DataContainer
    assert "Runs periodic_callback every n epochs, updates or samples" in core
    config = page_text(site, "api/config")
    assert "One experiment: data, model, trainer and tracker" in config  # ExperimentConfig
    assert "Train this many epochs" in config  # BaseTrainerConfig.max_epochs
    assert (site / "quickstart_loss_curve.png").is_file()
