"""One optimiser step: serial (``train_step``, every device, AMP) or, on CPU, the instruments'
U-Nets side by side, one thread each (``side_by_side_step``): with sigmoid masks each U-Net's
loss and backward involve only its own parameters, so the gradients are those of the sum, and
Paddle's CPU convolutions run much on one core (eager ops release the GIL). Losses and
parameters are bit-identical to the serial step's (tested).
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional

from ..model.unet import SpleeterUNet
from ..runtime import nn, paddle
from .reporting import l1_losses

# Ops kept in float32 under AMP: the masks (sigmoid / softmax) and their product with the mix.
AMP_FLOAT32_OPS = {"sigmoid", "softmax", "elementwise_mul", "multiply", "abs", "mean"}


def train_step(
    network: paddle.nn.Layer,
    optimizer: paddle.optimizer.Optimizer,
    mix: paddle.Tensor,
    targets: paddle.Tensor,
    scaler: Optional[Any] = None,
) -> paddle.Tensor:
    """One optimiser step on ``[B, C, T, F]`` / ``[B, N, C, T, F]`` (AMP O1 when ``scaler`` is
    given); returns the per-instrument losses ``[N]`` as a device tensor."""
    with paddle.amp.auto_cast(
        enable=scaler is not None, level="O1", dtype="float16", custom_black_list=AMP_FLOAT32_OPS
    ):
        estimates = network(mix)
    parts = l1_losses(estimates, targets)
    loss = parts.sum()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    optimizer.clear_grad()
    return parts


def runs_side_by_side(network: Any, device: str, scaler: Optional[Any]) -> bool:
    """Whether :func:`side_by_side_step` applies: CPU, float32, sigmoid masks, several
    instruments, no dropout (its random draws would interleave between threads)."""
    return (
        device == "cpu"
        and scaler is None
        and isinstance(network, SpleeterUNet)
        and not network.softmax
        and len(network.instrument_list) > 1
        and not any(isinstance(layer, nn.Dropout) for layer in network.sublayers())
    )


def side_by_side_step(
    network: SpleeterUNet,
    optimizer: paddle.optimizer.Optimizer,
    mix: paddle.Tensor,
    targets: paddle.Tensor,
    scaler: None = None,
) -> paddle.Tensor:
    """One optimiser step as ``train_step`` (no AMP: ``scaler`` is None), each U-Net's
    forward and backward in its own thread; returns the per-instrument losses ``[N]``."""
    if scaler is not None:
        raise ValueError("the side-by-side step is float32 only")
    names = network.instrument_list
    parts: List[Optional[paddle.Tensor]] = [None] * len(names)
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            estimate = network.estimate(names[index], mix).unsqueeze(1)
            part = l1_losses(estimate, targets[:, index : index + 1])
            part.backward()
            parts[index] = part
        except BaseException as error:  # raised again in the calling thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(1, len(names))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    optimizer.step()
    optimizer.clear_grad()
    return paddle.concat(parts)
