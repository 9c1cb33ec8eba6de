"""Built-in losses against torch's reference implementations, and loss-name resolution."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from noether.config import WeightedLossTrainerConfig
from noether.config.entry_points import kind_entries
from noether.config.losses import BUILTIN_LOSSES as BUILTIN_LOSS_NAMES
from noether.config.losses import BUILTIN_LOSSES_MODULE
from noether.training.trainers import losses
from noether.training.trainers.losses import BUILTIN_LOSSES, UnknownLossError, resolve_loss


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    # values beyond 1 so that smooth_l1 / huber use both of their branches
    return torch.randn(5, 7, generator=generator) * 2, torch.randn(5, 7, generator=generator)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mse", torch.nn.MSELoss()),
        ("l1", torch.nn.L1Loss()),
        ("smooth_l1", torch.nn.SmoothL1Loss(beta=1.0)),
        ("huber", torch.nn.HuberLoss(delta=1.0)),
    ],
)
def test_builtin_loss_matches_torch_reference(name, reference):
    prediction, target = _pair()
    assert torch.allclose(resolve_loss(name)(prediction, target), reference(prediction, target))


def test_smooth_l1_and_huber_match_hand_computed_values():
    prediction = torch.tensor([0.0, 0.0])
    target = torch.tensor([0.5, 3.0])
    # |d| = 0.5 -> 0.5 * 0.25 = 0.125 ; |d| = 3 -> 3 - 0.5 = 2.5 ; mean 1.3125
    assert resolve_loss("smooth_l1")(prediction, target).item() == pytest.approx(1.3125)
    assert resolve_loss("huber")(prediction, target).item() == pytest.approx(1.3125)


def test_rel_l2_is_the_mean_of_per_sample_relative_errors():
    target = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    prediction = torch.tensor([[3.3, 4.4], [0.0, 1.0]])
    # sample 0: |(0.3, 0.4)| / |(3, 4)| = 0.5 / 5 = 0.1 ; sample 1: 1 / 2 = 0.5
    assert resolve_loss("rel_l2")(prediction, target).item() == pytest.approx(0.3)


def test_rel_l2_takes_the_norm_over_all_non_batch_dimensions():
    prediction, target = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    expected = torch.stack(
        [
            torch.linalg.norm(prediction[i] - target[i]) / torch.linalg.norm(target[i])
            for i in range(3)
        ]
    ).mean()
    assert torch.allclose(losses.rel_l2(prediction, target), expected)


def test_rel_l2_of_a_single_vector_and_of_a_zero_target_is_finite():
    assert losses.rel_l2(
        torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0])
    ).item() == pytest.approx(0.5)
    assert math.isfinite(losses.rel_l2(torch.ones(2, 3), torch.zeros(2, 3)).item())


def test_rel_l2_has_gradients():
    prediction = torch.randn(4, 6, requires_grad=True)
    losses.rel_l2(prediction, torch.randn(4, 6)).backward()
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()


@pytest.mark.parametrize("name", sorted(BUILTIN_LOSSES))
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_every_builtin_loss_trains_on_integer_targets_as_on_their_float_values(name, dtype):
    """mse took counts and masks; rel_l2 refused them and huber failed in backward."""
    prediction = torch.randn(4, 3, requires_grad=True)
    target = torch.randint(0, 2, (4, 3)).to(dtype)
    loss = BUILTIN_LOSSES[name](prediction, target)
    (grad,) = torch.autograd.grad(loss, prediction)
    float_loss = BUILTIN_LOSSES[name](prediction, target.float())
    (float_grad,) = torch.autograd.grad(float_loss, prediction)
    assert loss.dtype == torch.float32
    assert torch.equal(loss, float_loss) and torch.equal(grad, float_grad)


def test_builtin_names_are_published_as_entry_points_of_noether_trainers():
    entries = kind_entries("noether.losses")
    for name, function in losses.BUILTIN_LOSSES.items():
        assert entries[name].distribution == "noether-trainers"
        assert entries[name].load() is function
        assert entries[name].value == f"{BUILTIN_LOSSES_MODULE}:{name}"
    # noether-config's torch-free list is exactly what noether-trainers publishes
    published = {name for name, e in entries.items() if e.distribution == "noether-trainers"}
    assert published == set(BUILTIN_LOSS_NAMES) == set(losses.BUILTIN_LOSSES)


def test_unknown_loss_name_lists_known_names_closest_first():
    with pytest.raises(UnknownLossError) as info:
        resolve_loss("rel_l3")
    message = str(info.value)
    assert "unknown loss 'rel_l3'" in message
    known = message.split("known losses: ")[1]
    assert known.startswith("rel_l2")
    for name in losses.BUILTIN_LOSSES:
        assert name in known


def test_config_rejects_an_unknown_loss_name_naming_the_known_ones():
    with pytest.raises(ValidationError) as info:
        WeightedLossTrainerConfig(
            field_weights={"pressure": 1.0}, loss_fn="msee", max_epochs=1, effective_batch_size=2
        )
    assert "unknown loss 'msee'" in str(info.value)
    assert "mse" in str(info.value)


def test_entry_point_loss_of_another_distribution_resolves_by_name(fake_distributions):
    fake_distributions(
        "trainers-test-losses",
        {"cubed_error": "trainers_test_ep_losses:cubed_error"},
        {
            "trainers_test_ep_losses": (
                "def cubed_error(input, target):\n    return ((input - target).abs() ** 3).mean()\n"
            )
        },
    )
    loss = resolve_loss("cubed_error")
    assert loss(torch.tensor([2.0]), torch.tensor([0.0])).item() == pytest.approx(8.0)
    assert "cubed_error" in losses.known_loss_names()
    # the config validator sees it too, without importing it
    config = WeightedLossTrainerConfig(
        field_weights={"p": 1.0}, loss_fn="cubed_error", max_epochs=1, effective_batch_size=2
    )
    assert config.loss_fn == "cubed_error"


def test_broken_entry_point_names_the_distribution(fake_distributions):
    fake_distributions(
        "trainers-test-broken",
        {"broken_loss": "trainers_test_missing_module:loss"},
        {},
    )
    with pytest.raises(UnknownLossError, match="trainers-test-broken"):
        resolve_loss("broken_loss")


def test_same_loss_name_from_two_distributions_is_an_error_naming_both(fake_distributions):
    source = {"trainers_test_dup": "def twin(input, target):\n    return (input - target).sum()\n"}
    fake_distributions("trainers-test-dup-a", {"twin_loss": "trainers_test_dup:twin"}, source)
    fake_distributions("trainers-test-dup-b", {"twin_loss": "trainers_test_dup:twin"}, {})
    with pytest.raises(UnknownLossError) as info:
        resolve_loss("twin_loss")
    assert "trainers-test-dup-a" in str(info.value)
    assert "trainers-test-dup-b" in str(info.value)


def test_a_name_two_distributions_publish_leaves_the_other_names_usable(fake_distributions):
    source = {"trainers_test_pair": "def twin(input, target):\n    return (input - target).sum()\n"}
    fake_distributions(
        "trainers-test-pair-a",
        {"own_loss": "trainers_test_pair:twin", "mse": "trainers_test_pair:twin"},
        source,
    )
    fake_distributions("trainers-test-pair-b", {"own_loss_b": "trainers_test_pair:twin"}, {})
    assert resolve_loss("own_loss_b")(torch.tensor([3.0]), torch.tensor([1.0])).item() == 2.0
    assert resolve_loss("own_loss")(torch.tensor([3.0]), torch.tensor([1.0])).item() == 2.0
    config = WeightedLossTrainerConfig(
        field_weights={"p": 1.0}, loss_fn="own_loss_b", max_epochs=1, effective_batch_size=2
    )
    assert config.loss_fn == "own_loss_b"
    # the built-in name is now published twice (noether-trainers and the plug-in): refused
    with pytest.raises(
        UnknownLossError,
        match=r"noether-trainers .* trainers-test-pair-a|trainers-test-pair-a .* noether-trainers",
    ):
        resolve_loss("mse")
    with pytest.raises(ValidationError, match="registered by two distributions"):
        WeightedLossTrainerConfig(
            field_weights={"p": 1.0}, loss_fn="mse", max_epochs=1, effective_batch_size=2
        )
    with pytest.raises(ValidationError, match="registered by two distributions") as raised:
        WeightedLossTrainerConfig(field_weights={"p": 1.0}, max_epochs=1, effective_batch_size=2)
    # the message names each one's path, which picks it
    assert "or name the one meant by its path (" in str(raised.value)
    builtin = "noether.training.trainers.losses:mse"
    assert builtin in str(raised.value)
    assert resolve_loss(builtin) is losses.BUILTIN_LOSSES["mse"]
    config = WeightedLossTrainerConfig(
        field_weights={"p": 1.0}, loss_fn=builtin, max_epochs=1, effective_batch_size=2
    )
    assert config.loss_fn == builtin


def test_a_loss_module_that_raises_on_import_names_the_distribution(fake_distributions):
    fake_distributions(
        "trainers-test-raises",
        {"raising_loss": "trainers_test_raises:loss"},
        {"trainers_test_raises": "raise RuntimeError('not today')\n"},
    )
    with pytest.raises(UnknownLossError, match=r"trainers-test-raises .*RuntimeError: not today"):
        resolve_loss("raising_loss")


@pytest.mark.parametrize("separator", [":", "."])
def test_dotted_path_names_a_custom_loss(tmp_path, monkeypatch, separator):
    package = tmp_path / f"trainers_test_pkg_{'colon' if separator == ':' else 'dot'}"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "losses.py").write_text(
        "def weighted_huber(input, target):\n    return 2.0 * (input - target).abs().sum()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loss = resolve_loss(f"{package.name}.losses{separator}weighted_huber")
    assert loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(6.0)


def test_dotted_path_to_a_loss_module_class_builds_it():
    loss = resolve_loss("torch.nn:L1Loss")
    assert isinstance(loss, torch.nn.L1Loss)


def test_dotted_path_to_a_missing_module_names_the_path():
    with pytest.raises(UnknownLossError, match=r"cannot import loss 'no_such_pkg\.losses:foo'"):
        resolve_loss("no_such_pkg.losses:foo")


def test_dotted_path_to_a_missing_attribute_names_the_module():
    with pytest.raises(UnknownLossError, match=r"module 'torch\.nn\.functional' has no attribute"):
        resolve_loss("torch.nn.functional:no_such_loss")


def test_dotted_path_to_something_not_callable_is_refused():
    with pytest.raises(UnknownLossError, match="not a callable"):
        resolve_loss("math:pi")
