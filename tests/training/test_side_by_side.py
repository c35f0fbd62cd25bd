"""The side-by-side CPU step (one thread per U-Net) trains exactly as the serial step."""

from __future__ import annotations

import numpy as np
import pytest

from spleeter_paddle.model import build_model
from spleeter_paddle.runtime import nn, paddle
from spleeter_paddle.training.config import default_training_params
from spleeter_paddle.training.steps import runs_side_by_side, side_by_side_step, train_step
from spleeter_paddle.training.trainer import build_optimizer

T, F = 64, 64


def _params(model_type: str = "unet.unet", instruments=("vocals", "accompaniment")) -> dict:
    params = default_training_params()
    params.update(T=T, F=F, instrument_list=list(instruments))
    params["model"] = {"type": model_type, "params": {}}
    return params


def _train(step, batch_statistics: bool, n_steps: int = 2):
    rng = np.random.default_rng(7)
    mix = paddle.to_tensor(rng.uniform(0, 10, (1, 2, T, F)).astype(np.float32))
    targets = paddle.to_tensor(rng.uniform(0, 5, (1, 2, 2, T, F)).astype(np.float32))
    paddle.seed(0)
    model = build_model(_params(), batch_statistics=batch_statistics)
    model.train()
    optimizer = build_optimizer(model, 1e-3)
    losses = np.array([step(model, optimizer, mix, targets).numpy() for _ in range(n_steps)])
    return losses, {key: value.numpy() for key, value in model.state_dict().items()}


@pytest.mark.parametrize("batch_statistics", [False, True])
def test_side_by_side_step_is_bit_identical_to_the_serial_step(batch_statistics):
    serial_losses, serial_state = _train(train_step, batch_statistics)
    losses, state = _train(side_by_side_step, batch_statistics)
    assert losses.shape == (2, 2)
    np.testing.assert_array_equal(losses, serial_losses)
    assert serial_losses[-1].sum() < serial_losses[0].sum()  # it trained
    for key, value in serial_state.items():  # weights, BN statistics, both U-Nets
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_it_runs_only_where_its_results_are_the_serial_steps():
    unet = build_model(_params())
    assert runs_side_by_side(unet, "cpu", None)
    assert not runs_side_by_side(unet, "gpu:0", None)
    assert not runs_side_by_side(unet, "sdaa:0", None)
    assert not runs_side_by_side(unet, "cpu", paddle.amp.GradScaler())
    assert not runs_side_by_side(nn.Sequential(unet), "cpu", None)  # e.g. DataParallel
    assert not runs_side_by_side(build_model(_params(), dropout=True), "cpu", None)
    assert not runs_side_by_side(build_model(_params("unet.softmax_unet")), "cpu", None)
    assert not runs_side_by_side(build_model(_params(instruments=("vocals",))), "cpu", None)


def test_an_error_in_a_u_nets_thread_is_raised_by_the_step():
    model = build_model(_params())
    optimizer = build_optimizer(model, 1e-3)
    mix = paddle.ones([1, 2, T, F])
    with pytest.raises(ValueError):  # targets of another shape, in both threads
        side_by_side_step(model, optimizer, mix, paddle.ones([1, 2, 2, T, F // 2]))
