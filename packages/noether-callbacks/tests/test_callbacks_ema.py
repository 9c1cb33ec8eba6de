"""`ema`: averages equal a hand computation, are written when due and resume exactly."""

from __future__ import annotations

import io
from typing import Any

import torch

from noether.callbacks.ema import EmaCallback
from noether.core.testing import WeightRecorder

EMA = {"kind": "ema", "every_n_updates": 5, "target_factors": [0.5, 0.9]}


def test_ema_weights_equal_a_hand_computed_average(make_run: Any) -> None:
    run = make_run(callbacks=[EMA], probes=[WeightRecorder], max_updates=5).train()
    history = run.callback(WeightRecorder).history
    assert len(history) == 6  # start + 5 updates
    ema = run.callback(EmaCallback)
    for factor in (0.5, 0.9):
        expected = {k: v.clone() for k, v in history[0].items()}
        for weights in history[1:]:
            expected = {k: factor * expected[k] + (1 - factor) * weights[k] for k in expected}
        model = ema.get_model(factor)
        saved = torch.load(
            run.path.checkpoint_dir / "E0_U5_S20" / f"model_ema={factor:g}.pt", weights_only=True
        )
        for key, value in expected.items():
            torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=1e-6)
            assert torch.equal(saved[key], model.state_dict()[key])
        # the average differs from the trained weights (it is not a copy)
        assert not torch.allclose(model.linear.weight, run.model.linear.weight)


def test_ema_state_round_trips_through_a_file(make_run: Any) -> None:
    run = make_run(callbacks=[EMA], max_updates=3).train()
    buffer = io.BytesIO()
    torch.save(run.callback(EmaCallback).state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    fresh_run = make_run(callbacks=[EMA], max_updates=3)
    (fresh,) = fresh_run.trainer.get_user_callbacks(fresh_run.model)
    fresh.load_state_dict(state)  # before before_training, as on resume
    fresh.before_training()
    for key, value in fresh.state_dict()["ema"].items():
        for name, tensor in value.items():
            assert torch.equal(tensor, state["ema"][key][name])


def test_ema_continues_exactly_after_stop_and_resume(make_run: Any) -> None:
    checkpoint = {"kind": "checkpoint", "every_n_updates": 3, "save_optim": True}
    straight = make_run(callbacks=[EMA, checkpoint], max_updates=6).train()
    stopped = make_run(
        callbacks=[EMA, checkpoint, {"kind": "fixed_early_stopper", "stop_at_update": 3}],
        max_updates=6,
    ).train()
    assert stopped.trainer.update_counter.update == 3
    resumed = make_run(
        callbacks=[EMA, checkpoint],
        max_updates=6,
        initializer={"kind": "resume", "run": str(stopped.path.run_dir), "checkpoint": "E0_U3_S12"},
    ).train()
    assert resumed.trainer.update_counter.update == 6
    expected = straight.callback(EmaCallback).state_dict()["ema"]
    actual = resumed.callback(EmaCallback).state_dict()["ema"]
    for key, value in expected.items():
        for name, tensor in value.items():
            assert torch.equal(actual[key][name], tensor), (key, name)
    # the run's own weights agree too, so the EMA saw the same updates
    assert torch.equal(resumed.model.linear.weight, straight.model.linear.weight)


def test_ema_keep_last_deletes_after_a_resume_what_a_kill_left_behind(make_run: Any) -> None:
    kept = {**EMA, "every_n_updates": 1, "keep_last": 1}
    first = make_run(callbacks=[kept], max_updates=3).train()
    folders = sorted(p.name for p in first.path.checkpoint_dir.iterdir())
    assert folders == ["E0_U3_S12"]
    state = first.callback(EmaCallback).state_dict()
    assert (state["saved_tags"], state["pruning"]) == (["E0_U3_S12"], ["E0_U2_S8"])

    # killed after writing E0_U3_S12 and before deleting E0_U2_S8, then resumed from it
    resumed = make_run(callbacks=[kept], max_updates=6)
    left_behind = resumed.path.checkpoint_dir / "E0_U2_S8"
    left_behind.mkdir(parents=True)
    (left_behind / "model_ema=0.5.pt").write_bytes(b"")
    (fresh,) = resumed.trainer.get_user_callbacks(resumed.model)
    fresh.load_state_dict(state)
    fresh.before_training()
    assert not left_behind.exists()
