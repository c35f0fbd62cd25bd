"""The training loop: cached spectrograms -> U-Nets, L1 summed over instruments, Adam, by
Spleeter's recipe (BN on stored statistics, no dropout, random T-frame crops); checkpoints every
N steps, validation loss every M; one process or one of N ``DataParallel`` ranks.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..data.cache_files import SpectrogramCache
from ..data.dataset import ResumableBatchSampler, TrainingDataset, ValidationDataset
from ..data.loader import BatchLoader
from ..devices import select_device
from ..errors import ModelError
from ..files import write_errors
from ..launch import init_distributed
from ..model import build_model
from ..pretrained.store import load_weights, weights_digest
from ..runtime import paddle
from .checkpoint import (
    CheckpointManager,
    export_is_current,
    export_model,
    rng_seed,
)
from .config import TrainingOptions, TrainingResult
from .folder import CHECKPOINTS, RunPlan
from .steps import (
    Interval,
    runs_side_by_side,
    side_by_side_step,
    train_step,
    validation_loss,
    visualdl_writer,
)

logger = logging.getLogger(__name__)


def build_optimizer(model: paddle.nn.Layer, learning_rate: float) -> paddle.optimizer.Adam:
    """Adam (0.9, 0.999, 1e-8), as Spleeter. The multi-tensor kernel does the same update; after
    Paddle 3.3.1's per-parameter CPU kernel every later convolution ran 2-4x slower, with the
    OpenMP worker busy twice as long (2 cores: 26-31 s per 2stems step instead of 6-7 s)."""
    return paddle.optimizer.Adam(
        learning_rate, 0.9, 0.999, 1e-8, parameters=model.parameters(), use_multi_tensor=True
    )


class Trainer:
    """One process's share of a training run, as ``plan`` says (made by ``run.train_model``);
    rank 0 alone logs, saves checkpoints and exports the model."""

    def __init__(self, params: Dict[str, Any], options: TrainingOptions, plan: RunPlan):
        # BN on stored statistics in train mode is intended (Spleeter); Paddle warns about it.
        warnings.filterwarnings("ignore", message="When training, we now always track global mean")
        self.params, self.options, self.plan = params, options, plan
        self.rank, self.world_size = init_distributed()
        self.is_main = self.rank == 0
        self.device = select_device(options.device)
        self.batch_size = int(options.batch_size or params["batch_size"])
        # Paddle's optimisers take a float only (a JSON ``1`` is an int).
        self.learning_rate = float(options.learning_rate or params["learning_rate"])
        self.save_every = options.save_every or params["save_checkpoints_steps"]
        validate_every = options.validate_every
        self.validate_every = self.save_every if validate_every is None else validate_every
        self.run_dir = plan.run_dir
        self.instruments = list(params["instrument_list"])
        self.seed = int(plan.settings["recorded"].get("random_seed") or 0)
        random.seed(self.seed)
        np.random.seed(self.seed)
        paddle.seed(self.seed)
        self._build_data()
        self.model = build_model(
            params, batch_statistics=options.batch_statistics, dropout=options.dropout
        )
        self.optimizer = build_optimizer(self.model, self.learning_rate)
        self.use_amp = options.amp and self.device != "cpu"
        if options.amp and not self.use_amp:
            logger.warning(
                "AMP needs a GPU or custom device (Paddle's CPU convolutions have float32 and "
                "float64 kernels only, no bfloat16): training in float32"
            )
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if self.use_amp else None
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", options.keep_checkpoints)
        self.initial_weights: Optional[Path] = None
        self.step = self._restore()
        self.network = paddle.DataParallel(self.model) if self.world_size > 1 else self.model
        side_by_side = runs_side_by_side(self.network, self.device, self.scaler)  # same results
        self.step_function = side_by_side_step if side_by_side else train_step
        self.model.train()
        self.visualdl = visualdl_writer(options.visualdl_dir if self.is_main else None)

    def _build_data(self) -> None:
        params, options = self.params, self.options
        cache = SpectrogramCache(params["training_cache"])
        if self.is_main:
            started = time.perf_counter()
            cache.verify()
            logger.info(
                "cache %s verified in %.1f s", cache.directory, time.perf_counter() - started
            )
        self.dataset = TrainingDataset(cache, params, self.seed, options.augmentation)
        drop_last = len(self.dataset) >= self.batch_size * self.world_size
        self.sampler = ResumableBatchSampler(
            self.dataset,
            self.batch_size,
            self.seed,
            drop_last,
            num_replicas=self.world_size,
            rank=self.rank,
        )
        self.loader = BatchLoader(self.dataset, self.sampler, options.num_workers)
        self.steps_per_epoch = max(len(self.sampler), 1)
        if options.max_steps is not None:
            self.max_steps = options.max_steps
        elif options.epochs:
            self.max_steps = options.epochs * self.steps_per_epoch
        else:
            self.max_steps = params["train_max_steps"]
        self.validation_loader = None
        index = Path(params["validation_cache"], "index.json")
        if self.is_main and self.validate_every and index.is_file():
            validation_cache = SpectrogramCache(index.parent)
            validation_cache.verify()
            validation = ValidationDataset(validation_cache, params)
            if len(validation):
                batches = paddle.io.BatchSampler(validation, batch_size=self.batch_size)
                self.validation_loader = BatchLoader(validation, batches)

    def _restore(self) -> int:
        """Resume the run's newest checkpoint, else initialise as ``-lm`` says; the start step."""
        latest = self.plan.checkpoint if self.plan.resume else None
        if latest is not None:
            state = CheckpointManager.load(latest, self.model, self.optimizer, self.scaler)
            step = int(state["step"])
            paddle.seed(rng_seed(self.seed, step))
            logger.info("resumed from %s at step %d", latest, step)
            if self.is_main and not export_is_current(self.run_dir, step):
                export_model(
                    self.model, self.params, self.run_dir, step=step, checkpoint=latest.name
                )
                logger.warning(
                    "re-exported %s from %s (the last export was interrupted)",
                    self.run_dir,
                    latest.name,
                )
            return step
        initial = Path(self.options.initial_weights) if self.options.initial_weights else None
        if initial is not None:
            load_weights(self.model, initial)
            logger.info("initialised from %s", initial)
        self.initial_weights = initial
        return 0

    def _log(self, epoch: int, interval: Interval) -> None:
        rows = np.array(interval.rows)  # settled just before: [steps, N]
        n, loss = len(rows), float(np.mean(rows.sum(axis=1)))
        batch_cost = interval.batch_s / n
        eta = int(max((self.max_steps - self.step) * batch_cost, 0))  # seconds
        parts = ", ".join(f"{name}: {v / n:.6f}" for name, v in zip(self.instruments, rows.sum(0)))
        logger.info(
            "[Train] epoch: %d, step: %d/%d, loss: %.6f, %s, lr: %.6g, reader_cost: %.5f s, "
            "batch_cost: %.5f s, ips: %.3f samples/s, eta: %s",
            epoch,
            self.step,
            self.max_steps,
            loss,
            parts,
            self.learning_rate,
            interval.reader_s / n,
            batch_cost,
            self.batch_size * self.world_size / batch_cost,
            f"{eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}",
        )
        self._scalar("train/loss", loss)

    def _scalar(self, tag: str, value: float) -> None:
        if self.visualdl is not None:
            self.visualdl.add_scalar(tag=tag, value=value, step=self.step)

    def _validate(self, result: TrainingResult) -> None:
        scores = validation_loss(self.model, self.validation_loader, self.instruments)
        result.validation[self.step] = scores["loss"]
        listing = ", ".join(f"{key}: {value:.6f}" for key, value in scores.items())
        logger.info("[Eval] step: %d, %s", self.step, listing)
        self._scalar("validation/loss", scores["loss"])

    def _settle(self, interval: Interval, result: TrainingResult) -> None:
        """Read the pending losses; a NaN or infinite one (on any rank) stops the run before
        anything is saved from these weights."""
        # every rank settles at the same steps: the losses become the global batch's (what is
        # logged and returned), the same on all ranks, so they all stop together
        losses = interval.settle(paddle.distributed.all_reduce if self.world_size > 1 else None)
        result.losses.extend(losses)
        if not all(np.isfinite(losses)):
            last = self.checkpoints.latest()
            kept = f"the last checkpoint {last.name} is kept" if last else "nothing was saved"
            raise ModelError(
                f"training diverged: the loss became NaN or infinite by step {self.step} "
                f"(learning rate {self.learning_rate:g}); stopped, {kept}; lower the learning "
                "rate (-lr) or check the training data"
            )

    def _save(self, epoch: int) -> None:
        if not self.is_main:
            return
        state = {"epoch": epoch, "seed": self.seed, "batch_size": self.batch_size}
        state["world_size"], where = self.world_size, self.run_dir
        with write_errors(f"{where}: cannot save step {self.step}", ModelError, where):
            path = self.checkpoints.save(self.step, self.model, self.optimizer, state, self.scaler)
            export_model(self.model, self.params, where, step=self.step, checkpoint=path.name)
        logger.info("saved checkpoint %s and exported weights to %s", path, self.run_dir)

    def run(self) -> TrainingResult:
        result = TrainingResult(
            self.run_dir, self.step, self.step, initial_weights=self.initial_weights
        )
        logger.info(
            "training %s on %s x%d: %d chunks, batch %d, %d steps/epoch, steps %d -> %d, lr %g",
            "+".join(self.instruments),
            self.device,
            self.world_size,
            len(self.dataset),
            self.batch_size,
            self.steps_per_epoch,
            self.step,
            self.max_steps,
            self.learning_rate,
        )
        epoch, last_saved = self.step // self.steps_per_epoch, self.step
        if self.validation_loader is not None and self.step == 0:
            self._validate(result)  # the starting point, before any update
        self.sampler.skip_batches = self.step % self.steps_per_epoch
        interval, started = Interval(), time.perf_counter()
        while self.step < self.max_steps:
            self.dataset.set_epoch(epoch)
            self.sampler.set_epoch(epoch)
            tick = time.perf_counter()
            for mix, targets in self.loader:
                loaded = time.perf_counter()
                parts = self.step_function(self.network, self.optimizer, mix, targets, self.scaler)
                self.step += 1
                interval.add(parts, loaded - tick, int(mix.shape[0]))
                log_now = self.step % self.options.log_every == 0 or self.step == self.max_steps
                if log_now or self.step % self.save_every == 0:
                    self._settle(interval, result)  # the interval's one host sync
                interval.batch_s += time.perf_counter() - tick
                if log_now:
                    if self.is_main:
                        self._log(epoch, interval)
                    interval = Interval()
                if self.validation_loader is not None and self.step % self.validate_every == 0:
                    self._validate(result)
                if self.step % self.save_every == 0:
                    self._save(epoch)
                    paddle.seed(rng_seed(self.seed, self.step))  # as a resume from here would
                    last_saved = self.step
                if self.step >= self.max_steps:
                    break
                tick = time.perf_counter()  # validation and saving are not reader cost
            else:
                epoch += 1
        self._settle(interval, result)
        if self.step != last_saved or self.checkpoints.latest() is None:
            self._save(epoch)
        if self.visualdl is not None:
            self.visualdl.close()
        self.loader.close()
        result.step = self.step
        elapsed = time.perf_counter() - started
        logger.info(
            "finished at step %d (%d steps in %.1f s)",
            self.step,
            self.step - result.start_step,
            elapsed,
        )
        if self.world_size > 1:
            self._check_replicas()
        return result

    def _check_replicas(self) -> None:
        digests: List[str] = []  # every rank's (a collective call: all ranks make it)
        paddle.distributed.all_gather_object(digests, weights_digest(self.model.state_dict()))
        if len(set(digests)) != 1:
            raise ModelError(f"ranks ended with different parameters: {digests}")
        logger.info(
            "parameters identical on all %d ranks (sha256 per rank: %s)",
            self.world_size,
            ", ".join(digest[:16] for digest in digests),
        )


def run_job(job: Dict[str, Any]) -> int:
    """One launched training process (``launched.TASKS``): trains by the parent's plan; the
    parent holds the run's lock and journals, which this process's temporaries join."""
    from ..files import joined_journal

    plan = RunPlan.from_json(job["plan"])
    with joined_journal(plan.run_dir), joined_journal(plan.run_dir / CHECKPOINTS):
        Trainer(job["params"], TrainingOptions(**job["options"]), plan).run()
    return 0
