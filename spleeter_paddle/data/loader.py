"""Batches of a map-style dataset, loaded in this process or in worker processes.

Unlike ``paddle.io.DataLoader`` (whose single-process reader thread hangs on an error, and whose
workers print tracebacks), any failure while loading -- an exception in ``__getitem__`` or a
worker that dies -- ends the iteration with one :class:`DataError` naming the item.
"""

from __future__ import annotations

import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_all_start_methods, get_context
from typing import Any, Deque, Iterable, Iterator, List, Sequence, Tuple

import numpy as np

from ..errors import DataError, SpleeterError

_dataset: Any = None  # the dataset a worker process serves (inherited when forked)


def fetch_batch(dataset: Any, indices: Sequence[int]) -> Tuple[np.ndarray, ...]:
    """``dataset[i]`` for every index, stacked field by field; DataError naming the item."""
    items = []
    for index in indices:
        try:
            items.append(dataset[int(index)])
        except SpleeterError as error:
            raise DataError(f"loading training item {index}: {error}") from None
        except Exception as error:  # any reader failure becomes one line
            raise DataError(
                f"loading training item {index}: {type(error).__name__}: {error}"
            ) from None
    return tuple(np.stack(field) for field in zip(*items))


def _start_worker(dataset: Any) -> None:
    global _dataset
    _dataset = dataset
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C


def _worker_batch(indices: List[int]) -> Tuple[str, Any]:
    try:
        return "ok", fetch_batch(_dataset, indices)
    except DataError as error:
        return "error", str(error)


class BatchLoader:
    """Iterate ``batch_sampler`` over ``dataset``, yielding tuples of Paddle tensors.

    ``num_workers`` 0 loads in this process; N > 0 forks N worker processes per epoch (so they
    see the dataset's current epoch) with ``prefetch`` batches in flight per worker.
    """

    def __init__(
        self, dataset: Any, batch_sampler: Iterable, num_workers: int = 0, prefetch: int = 2
    ):
        self.dataset, self.batch_sampler = dataset, batch_sampler
        self.num_workers, self.prefetch = max(0, int(num_workers)), max(1, prefetch)

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        import paddle

        batches = self._parallel() if self.num_workers else self._serial()
        for arrays in batches:
            yield tuple(paddle.to_tensor(array) for array in arrays)

    def _serial(self) -> Iterator[Tuple[np.ndarray, ...]]:
        for indices in self.batch_sampler:
            yield fetch_batch(self.dataset, indices)

    def _parallel(self) -> Iterator[Tuple[np.ndarray, ...]]:
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(
            self.num_workers, get_context(method), _start_worker, (self.dataset,)
        )
        pending: Deque = deque()
        sampler = iter(self.batch_sampler)
        try:
            while True:
                while len(pending) < self.num_workers * self.prefetch:
                    indices = next(sampler, None)
                    if indices is None:
                        break
                    pending.append(pool.submit(_worker_batch, list(indices)))
                if not pending:
                    return
                try:
                    status, value = pending.popleft().result()
                except BrokenProcessPool:
                    raise DataError(
                        "a data loader worker process died (out of memory or killed?); "
                        "try --num-workers 0"
                    ) from None
                if status == "error":
                    raise DataError(value)
                yield value
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
