"""Batches of a map-style dataset, loaded here or in worker processes. Unlike ``paddle.io``'s
DataLoader (its reader thread hangs on an error, its workers print tracebacks), any failure while
loading (``__getitem__`` raising, a worker dying) ends the iteration with one :class:`DataError`."""

from __future__ import annotations

import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..environment import workers_starting
from ..errors import DataError, SpleeterError

PREFETCH = 2  # batches in flight per worker
_dataset: Any = None  # the dataset a worker process serves (set by _start_worker)


def worker_pool(workers: int, *initializer: Any) -> ProcessPoolExecutor:
    """Worker processes forked from a clean server process where the system has one
    (``forkserver``), spawned elsewhere; never forked from this process, which may hold threads
    (Paddle's, scipy's FFT pool: forking beside those can hang in the FFT pool's fork handler).
    The server loads the cache builder and the training dataset (Paddle imported, no op run: no
    threads of its own), so its workers start at once instead of importing Paddle each; a script
    that calls this without an ``if __name__ == "__main__":`` guard is not run again."""
    if "forkserver" in get_all_start_methods():
        context = get_context("forkserver")
        context.set_forkserver_preload([__name__, f"{__package__}.cache", f"{__package__}.dataset"])
    else:
        context = get_context("spawn")
    return ProcessPoolExecutor(workers, context, *initializer)


def fetch_batch(dataset: Any, indices: Sequence[int]) -> Tuple[np.ndarray, ...]:
    """``dataset[i]`` for every index, stacked field by field; DataError naming the item."""
    items = []
    for index in indices:
        try:
            items.append(dataset[int(index)])
        except Exception as error:  # any reader failure becomes one line
            kind = "" if isinstance(error, SpleeterError) else f"{type(error).__name__}: "
            raise DataError(f"loading training item {index}: {kind}{error}") from None
    return tuple(np.stack(field) for field in zip(*items))


def _start_worker(dataset: Any) -> None:
    global _dataset
    _dataset = dataset
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C


def _worker_batch(epoch: Any, indices: List[int]) -> Tuple[str, List[Tuple]]:
    """A batch in shared memory (its DataError comes back through the future as it is)."""
    if epoch is not None:
        _dataset.set_epoch(epoch)
    return _to_shared(fetch_batch(_dataset, indices))


def _to_shared(arrays: Tuple[np.ndarray, ...]) -> Tuple[str, List[Tuple]]:
    """Copy ``arrays`` into a new shared-memory block (far cheaper than pickling them through
    the result pipe); the main process reads and unlinks it."""
    from multiprocessing import resource_tracker, shared_memory

    block = shared_memory.SharedMemory(create=True, size=max(sum(a.nbytes for a in arrays), 1))
    layout, offset = [], 0
    for array in arrays:
        view = np.ndarray(array.shape, array.dtype, buffer=block.buf, offset=offset)
        view[...] = array
        layout.append((array.shape, array.dtype.str, offset))
        offset += array.nbytes
    del view
    resource_tracker.unregister(block._name, "shared_memory")  # type: ignore[attr-defined]
    name = block.name
    block.close()
    return name, layout


def _from_shared(name: str, layout: List[Tuple]) -> Tuple[np.ndarray, ...]:
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=name)
    try:
        return tuple(
            np.ndarray(shape, np.dtype(dtype), buffer=block.buf, offset=offset).copy()
            for shape, dtype, offset in layout
        )
    finally:
        block.close()
        block.unlink()


class BatchLoader:
    """Iterate ``batch_sampler`` over ``dataset``, yielding tuples of Paddle tensors.

    ``num_workers`` 0 loads in this process; N > 0 starts N worker processes once
    (:func:`worker_pool`; each batch carries the dataset's current ``epoch``), with two batches in
    flight per worker.
    Call :meth:`close` (or let the loader be collected) to stop them.
    """

    def __init__(
        self,
        dataset: Any,
        batch_sampler: Iterable,
        num_workers: int = 0,
        timeout_s: float = 600.0,
    ):
        self.dataset, self.batch_sampler = dataset, batch_sampler
        self.num_workers = max(0, int(num_workers))
        self.timeout_s = timeout_s  # longest wait for one batch from a worker
        self._pool: Optional[ProcessPoolExecutor] = None

    def close(self, kill: bool = False) -> None:
        """Stop the workers (``kill``: kill them, not waiting for a stuck one)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()) if kill else []:
                process.kill()
            pool.shutdown(wait=not kill, cancel_futures=True)

    def __del__(self) -> None:
        self.close()

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        from ..runtime import paddle

        if self.num_workers:
            batches = self._parallel()
        else:
            batches = (fetch_batch(self.dataset, indices) for indices in self.batch_sampler)
        for arrays in batches:
            yield tuple(paddle.to_tensor(array) for array in arrays)

    def _parallel(self) -> Iterator[Tuple[np.ndarray, ...]]:
        if self._pool is None:  # started once, kept across epochs
            self._pool = worker_pool(self.num_workers, _start_worker, (self.dataset,))
        pool, pending = self._pool, deque()  # type: ignore[var-annotated]
        epoch = getattr(self.dataset, "epoch", None) if hasattr(self.dataset, "set_epoch") else None
        sampler = iter(self.batch_sampler)
        try:
            while True:
                with workers_starting():
                    for indices in islice(sampler, self.num_workers * PREFETCH - len(pending)):
                        pending.append(pool.submit(_worker_batch, epoch, list(indices)))
                if not pending:
                    return
                try:
                    value = pending.popleft().result(timeout=self.timeout_s)
                except BrokenProcessPool:
                    self._pool = None
                    raise DataError(
                        "a data loader worker process died (out of memory or killed?); "
                        "try --num-workers 0"
                    ) from None
                except FuturesTimeout:  # a stuck worker (a stalled disk, a lock): never hang
                    self.close(kill=True)
                    raise DataError(
                        f"a data loader worker gave no batch in {self.timeout_s:g} s (stuck?); "
                        "try --num-workers 0"
                    ) from None
                yield _from_shared(*value)
        finally:
            _discard(pending)


def _discard(pending: Any) -> None:
    """Cancel the batches not yet loaded; free the blocks of those already loaded."""
    for future in pending:
        if future.cancel():
            continue
        try:
            value = future.result(timeout=60)
        except Exception:  # a failed batch or a broken pool: nothing to free
            continue
        _from_shared(*value)
