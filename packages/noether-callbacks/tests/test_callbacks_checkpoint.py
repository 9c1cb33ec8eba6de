"""`checkpoint`: tagged folders at the right counters, rolling latest, keep_last pruning."""

from __future__ import annotations

from typing import Any

import torch

from noether.callbacks.checkpoint import CheckpointCallback
from noether.core.checkpoint.writer import CheckpointWriter


def test_checkpoints_are_written_when_due_and_only_the_last_k_are_kept(make_run: Any) -> None:
    run = make_run(
        callbacks=[
            {
                "kind": "checkpoint",
                "every_n_updates": 2,
                "save_optim": True,
                "save_latest_weights": True,
                "keep_last": 2,
            }
        ],
        max_updates=7,
    ).train()
    checkpoints = run.path.checkpoint_dir
    folders = sorted(p.name for p in checkpoints.iterdir() if p.is_dir())
    assert folders == ["E0_U4_S16", "E0_U6_S24", "latest"]
    for tag in ("E0_U4_S16", "E0_U6_S24"):
        assert sorted(p.name for p in (checkpoints / tag).iterdir()) == [
            "checkpoint.json",
            "model.pt",
            "optim.pt",
            "trainer.pt",
        ]
    # latest holds weights only, from the last due update (6), not the final one (7)
    assert sorted(p.name for p in (checkpoints / "latest").iterdir()) == [
        "checkpoint.json",
        "model.pt",
    ]
    latest = CheckpointWriter.load(run.path.run_dir, "latest")["model"]
    tagged = CheckpointWriter.load(run.path.run_dir, "E0_U6_S24")
    for key, value in tagged["model"].items():
        assert torch.equal(latest[key], value)
    assert not torch.equal(latest["linear.weight"], run.model.linear.weight.detach())
    assert tagged["trainer"]["callbacks"]["checkpoint"] == {
        "saved_tags": ["E0_U4_S16", "E0_U6_S24"],
        "pruning": ["E0_U2_S8"],  # deleted right after: a resume deletes it again
    }


def test_keep_last_state_survives_a_resume(make_run: Any) -> None:
    config = {"kind": "checkpoint", "every_n_updates": 1, "keep_last": 2}
    first = make_run(callbacks=[config], max_updates=3).train()
    state = first.callback(CheckpointCallback).state_dict()
    assert state == {"saved_tags": ["E0_U2_S8", "E0_U3_S12"], "pruning": ["E0_U1_S4"]}

    second = make_run(callbacks=[config], max_updates=3)
    (fresh,) = second.trainer.get_user_callbacks(second.model)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state
