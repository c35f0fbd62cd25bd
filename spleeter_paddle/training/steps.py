"""One optimiser step, and what training reports (validation loss, interval sums, VisualDL).

A step is serial (``train_step``, every device, AMP) or, on CPU, the instruments' U-Nets side by
side, one thread each (``side_by_side_step``): with sigmoid masks each U-Net's loss and backward
involve only its own parameters, so the gradients are those of the sum, and Paddle's CPU
convolutions run much on one core. Losses and parameters equal the serial step's (tested).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..model.unet import SpleeterUNet
from ..runtime import nn, paddle

logger = logging.getLogger(__name__)

# Ops kept in float32 under AMP: the masks (sigmoid / softmax) and their product with the mix.
AMP_FLOAT32_OPS = {"sigmoid", "softmax", "elementwise_mul", "multiply", "abs", "mean"}


def l1_losses(estimates: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
    """Per-instrument mean |estimate - target|: ``[B, N, C, T, F]`` x2 -> ``[N]`` float32."""
    difference = estimates.astype("float32") - targets.astype("float32")
    return paddle.abs(difference).mean(axis=[0, 2, 3, 4])


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
    """One optimiser step as ``train_step`` (no AMP: ``scaler`` is None, as
    :func:`runs_side_by_side` requires), each U-Net's forward and backward in its own thread;
    returns the per-instrument losses ``[N]``."""
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


def visualdl_writer(directory: Optional[str]) -> Any:
    """VisualDL's ``LogWriter`` for rank 0's scalars; None when not asked for or not installed."""
    if not directory:
        return None
    try:
        from visualdl import LogWriter
    except ImportError:
        logger.warning("VisualDL is not installed (pip install visualdl): no scalars written")
        return None
    return LogWriter(logdir=directory)


def validation_loss(
    model: paddle.nn.Layer, loader: Any, instruments: Sequence[str]
) -> Dict[str, float]:
    """Mean L1 per instrument and their sum (``loss``) over a validation loader."""
    model.eval()
    totals, count = np.zeros(len(instruments)), 0
    with paddle.no_grad():
        for mix, targets in loader:
            totals += l1_losses(model(mix), targets).numpy() * mix.shape[0]
            count += mix.shape[0]
    model.train()
    means = totals / max(count, 1)
    return {"loss": float(means.sum()), **{name: float(v) for name, v in zip(instruments, means)}}


class Interval:
    """Losses and timing sums between two log lines; the losses stay device tensors until
    :meth:`settle` (one host sync per log line, not per step)."""

    def __init__(self) -> None:
        self._pending: List[paddle.Tensor] = []
        self._sizes: List[int] = []
        self.rows: List[np.ndarray] = []  # settled per-step losses, ``[N]`` each
        self.reader_s = self.batch_s = 0.0

    def add(self, parts: paddle.Tensor, reader_s: float, batch_size: int = 1) -> None:
        """One step's per-instrument losses ``[N]``, the mean over its ``batch_size`` examples."""
        self._pending.append(parts)
        self._sizes.append(batch_size)
        self.reader_s += reader_s

    def settle(self, all_reduce: Optional[Callable[[paddle.Tensor], Any]] = None) -> List[float]:
        """Read the pending steps' losses from the device; their totals, in step order. With
        ``all_reduce`` (an in-place sum over the ranks) they become the global batch's, the
        same on every rank."""
        if not self._pending:
            return []
        rows = paddle.stack(self._pending).astype("float64")  # [steps, N]
        if all_reduce is not None:
            sizes = paddle.to_tensor(self._sizes, dtype="float64").unsqueeze(1)
            summed = paddle.concat([rows * sizes, sizes], axis=1)
            all_reduce(summed)
            rows = summed[:, :-1] / summed[:, -1:]
        settled = rows.numpy()
        self._pending, self._sizes = [], []
        self.rows.extend(settled)
        return [float(row.sum()) for row in settled]
