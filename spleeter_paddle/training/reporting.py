"""What training reports: validation loss, per-interval sums for the log line, VisualDL scalars."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..runtime import paddle

logger = logging.getLogger(__name__)


def l1_losses(estimates: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
    """Per-instrument mean |estimate - target|: ``[B, N, C, T, F]`` x2 -> ``[N]`` float32."""
    difference = estimates.astype("float32") - targets.astype("float32")
    return paddle.abs(difference).mean(axis=[0, 2, 3, 4])


class VisualDL:
    """Optional VisualDL scalars (rank 0); a no-op when not asked for or not installed."""

    def __init__(self, directory: Optional[str]):
        self.writer = None
        if directory:
            try:
                from visualdl import LogWriter
            except ImportError:
                logger.warning(
                    "VisualDL is not installed (pip install visualdl): no scalars written"
                )
                return
            self.writer = LogWriter(logdir=directory)

    def add(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag=tag, value=value, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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


def format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Interval:
    """Losses and timing sums between two log lines; the losses stay device tensors until
    :meth:`settle` (one host sync per log line, not per step)."""

    def __init__(self, n_instruments: int):
        self.n_instruments = n_instruments
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

    @property
    def losses(self) -> List[float]:
        return [float(row.sum()) for row in self.rows]

    @property
    def parts(self) -> np.ndarray:
        return np.sum(self.rows, axis=0) if self.rows else np.zeros(self.n_instruments)
