"""The training loop: cached spectrograms -> U-Nets, L1 summed over instruments, Adam.

Spleeter's recipe by default (BN on stored statistics, no dropout, Adam lr from the config,
random T-frame crops); checkpoints every N steps with automatic resume; validation loss every
M steps; Paddle-style log lines; one process or one of N ``DataParallel`` ranks.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import paddle

from ..data.dataset import (
    ResumableBatchSampler,
    SpectrogramCache,
    TrainingDataset,
    ValidationDataset,
)
from ..devices import select_device
from ..errors import ModelError
from ..model import build_model
from ..pretrained.convert import METADATA_FILE, load_weights
from .checkpoint import CheckpointManager, export_model, newest_trained_model, run_directory
from .distributed import gather_digests, init_distributed, local_device_id

logger = logging.getLogger(__name__)

# Ops kept in float32 under AMP: the masks (sigmoid / softmax) and their product with the mix.
AMP_FLOAT32_OPS = {
    "sigmoid",
    "softmax",
    "elementwise_mul",
    "multiply",
    "abs",
    "reduce_mean",
    "mean",
}
PRETRAINED_PRESETS = ("2stems", "4stems", "5stems")
LoadModel = Union[bool, str, None]


@dataclass
class TrainingOptions:
    """How to train; ``None`` fields fall back to the configuration (Spleeter's keys)."""

    run_dir: Optional[str] = None  # default model/<params model_dir>
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    max_steps: Optional[int] = None  # default: epochs, else train_max_steps
    epochs: Optional[int] = None
    save_every: Optional[int] = None  # default save_checkpoints_steps
    validate_every: Optional[int] = None  # default save_every; 0 disables
    keep_checkpoints: int = 2
    log_every: int = 10
    num_workers: int = 2
    load_model: LoadModel = False  # True/"pretrained": official weights; "latest"; a directory
    resume: bool = True
    batch_statistics: bool = False
    dropout: bool = False
    amp: bool = False
    seed: Optional[int] = None  # default random_seed
    device: str = "auto"
    augmentation: Sequence[str] = ()
    visualdl_dir: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainingResult:
    run_dir: Path
    step: int
    start_step: int
    losses: List[float] = field(default_factory=list)  # one per step run now
    validation: Dict[int, float] = field(default_factory=dict)
    initial_weights: Optional[Path] = None


def pretrained_directory(params: Dict[str, Any]) -> Path:
    """Official weights whose instruments match ``params`` (provisioned by the model provider)."""
    from ..configuration import load_configuration
    from ..pretrained.provider import get_model_directory

    for name in PRETRAINED_PRESETS:
        preset = load_configuration(f"spleeter:{name}")
        if preset["instrument_list"] == params["instrument_list"]:
            return Path(get_model_directory(preset))
    raise ModelError(
        f"no official pretrained model has the instruments {params['instrument_list']}"
    )


def resolve_initial_weights(
    params: Dict[str, Any], load_model: LoadModel, run_dir: Optional[Path] = None
) -> Optional[Path]:
    """The weights directory ``-lm`` asks for: None (scratch), the official pretrained model
    (``True``; falls back to the newest own compatible model), ``"latest"`` or a directory."""
    if load_model in (None, False) or str(load_model).lower() in ("false", "0", "no", "none"):
        return None
    choice = str(load_model).lower()
    if choice == "latest":
        newest = newest_trained_model(params, exclude=run_dir)
        if newest is None:
            raise ModelError(
                "-lm latest: no trained model under the model home fits this configuration"
            )
        return newest
    if choice in ("true", "1", "yes", "pretrained"):
        try:
            return pretrained_directory(params)
        except ModelError as error:
            newest = newest_trained_model(params, exclude=run_dir)
            if newest is None:
                raise ModelError(
                    f"-lm: {error}; and no own trained model fits (use -lm False)"
                ) from None
            logger.warning("-lm: %s; using the newest own model %s", error, newest)
            return newest
    directory = Path(str(load_model))
    if not (directory / METADATA_FILE).is_file():
        raise ModelError(f"-lm {directory}: not a model directory (no {METADATA_FILE})")
    return directory


def l1_losses(estimates: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
    """Per-instrument mean |estimate - target|: ``[B, N, C, T, F]`` x2 -> ``[N]`` float32."""
    difference = estimates.astype("float32") - targets.astype("float32")
    return paddle.abs(difference).mean(axis=[0, 2, 3, 4])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


class _VisualDL:
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


def evaluate(model: paddle.nn.Layer, loader: Any, instruments: Sequence[str]) -> Dict[str, float]:
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


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def train(params: Dict[str, Any], options: Optional[TrainingOptions] = None) -> TrainingResult:
    """Train ``build_model(params)`` on ``params['training_cache']``; resume if a checkpoint exists.

    Call inside ``paddle.distributed.launch`` for data parallelism (see ``distributed.py``).
    Returns the final step, per-step losses of this run and validation losses.
    """
    options = options or TrainingOptions()
    rank, world_size = init_distributed()
    is_main = rank == 0
    device = select_device(options.device, rank=local_device_id())
    seed = params.get("random_seed", 0) if options.seed is None else options.seed
    batch_size = options.batch_size or params["batch_size"]
    learning_rate = options.learning_rate or params["learning_rate"]
    save_every = options.save_every or params["save_checkpoints_steps"]
    validate_every = save_every if options.validate_every is None else options.validate_every
    run_dir = run_directory(params, options.run_dir)
    _seed_everything(seed)

    dataset = TrainingDataset(
        SpectrogramCache(params["training_cache"]), params, seed, options.augmentation
    )
    drop_last = len(dataset) >= batch_size * world_size
    sampler = ResumableBatchSampler(
        dataset, batch_size, seed, drop_last, num_replicas=world_size, rank=rank
    )
    steps_per_epoch = len(sampler)
    max_steps = options.max_steps or (
        options.epochs * steps_per_epoch if options.epochs else params["train_max_steps"]
    )
    validation_loader = None
    if is_main and validate_every and Path(params["validation_cache"], "index.json").is_file():
        validation = ValidationDataset(SpectrogramCache(params["validation_cache"]), params)
        if len(validation):
            validation_loader = paddle.io.DataLoader(
                validation, batch_size=batch_size, num_workers=0
            )

    model = build_model(params, batch_statistics=options.batch_statistics, dropout=options.dropout)
    optimizer = paddle.optimizer.Adam(
        learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, parameters=model.parameters()
    )
    checkpoints = CheckpointManager(run_dir / "checkpoints", options.keep_checkpoints)
    step, initial = 0, None
    latest = checkpoints.latest() if options.resume else None
    if latest is not None:
        step = int(CheckpointManager.load(latest, model, optimizer)["step"])
        logger.info("resumed from %s at step %d", latest, step)
    else:
        initial = resolve_initial_weights(params, options.load_model, run_dir)
        if initial is not None:
            load_weights(model, initial)
            logger.info("initialised from %s", initial)
    network = paddle.DataParallel(model) if world_size > 1 else model
    model.train()

    amp_dtype = "bfloat16" if device == "cpu" else "float16"
    scaler = (
        paddle.amp.GradScaler(init_loss_scaling=2.0**15)
        if options.amp and amp_dtype == "float16"
        else None
    )
    loader = paddle.io.DataLoader(
        dataset, batch_sampler=sampler, num_workers=options.num_workers, use_shared_memory=True
    )
    instruments = params["instrument_list"]
    visualdl = _VisualDL(options.visualdl_dir if is_main else None)
    result = TrainingResult(run_dir, step, step, initial_weights=initial)
    logger.info(
        "training %s on %s x%d: %d chunks, batch %d, %d steps/epoch, steps %d -> %d, lr %g",
        "+".join(instruments),
        device,
        world_size,
        len(dataset),
        batch_size,
        steps_per_epoch,
        step,
        max_steps,
        learning_rate,
    )

    def save(step: int) -> None:
        if not is_main:
            return
        state = {"epoch": epoch, "seed": seed, "batch_size": batch_size, "world_size": world_size}
        path = checkpoints.save(step, model, optimizer, state)
        export_model(model, params, run_dir, step=step, checkpoint=path.name)
        logger.info("saved checkpoint %s and exported weights to %s", path, run_dir)

    epoch, last_saved = step // max(steps_per_epoch, 1), step
    sampler.skip_batches = step % max(steps_per_epoch, 1)
    interval = {"loss": [], "reader": 0.0, "batch": 0.0, "parts": np.zeros(len(instruments))}
    started = time.perf_counter()
    while step < max_steps:
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        tick = time.perf_counter()
        for mix, targets in loader:
            loaded = time.perf_counter()
            with paddle.amp.auto_cast(
                enable=options.amp, level="O1", dtype=amp_dtype, custom_black_list=AMP_FLOAT32_OPS
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
            step += 1
            loss_value = float(loss)
            result.losses.append(loss_value)
            done = time.perf_counter()
            interval["loss"].append(loss_value)
            interval["parts"] += parts.numpy()
            interval["reader"] += loaded - tick
            interval["batch"] += done - tick
            tick = done
            if is_main and (step % options.log_every == 0 or step == max_steps):
                n = len(interval["loss"])
                batch_cost = interval["batch"] / n
                per_instrument = ", ".join(
                    f"{name}: {v / n:.6f}" for name, v in zip(instruments, interval["parts"])
                )
                logger.info(
                    "[Train] epoch: %d, step: %d/%d, loss: %.6f, %s, lr: %.6g, reader_cost: %.5f s, "
                    "batch_cost: %.5f s, ips: %.3f samples/s, eta: %s",
                    epoch,
                    step,
                    max_steps,
                    np.mean(interval["loss"]),
                    per_instrument,
                    learning_rate,
                    interval["reader"] / n,
                    batch_cost,
                    batch_size * world_size / batch_cost,
                    _format_eta((max_steps - step) * batch_cost),
                )
                visualdl.add("train/loss", float(np.mean(interval["loss"])), step)
                interval = {
                    "loss": [],
                    "reader": 0.0,
                    "batch": 0.0,
                    "parts": np.zeros(len(instruments)),
                }
            if validation_loader is not None and step % validate_every == 0:
                scores = evaluate(model, validation_loader, instruments)
                result.validation[step] = scores["loss"]
                logger.info(
                    "[Eval] step: %d, %s",
                    step,
                    ", ".join(f"{k}: {v:.6f}" for k, v in scores.items()),
                )
                visualdl.add("validation/loss", scores["loss"], step)
            if step % save_every == 0:
                save(step)
                last_saved = step
            if step >= max_steps:
                break
        else:
            epoch += 1
            continue
        break
    if step != last_saved or checkpoints.latest() is None:
        save(step)
    result.step = step
    visualdl.close()
    elapsed = time.perf_counter() - started
    logger.info("finished at step %d (%d steps in %.1f s)", step, step - result.start_step, elapsed)
    if world_size > 1:
        digests = gather_digests(model)
        if len(set(digests)) != 1:
            raise ModelError(f"ranks ended with different parameters: {digests}")
        logger.info("parameters identical on all %d ranks (sha256 %s)", world_size, digests[0][:16])
    return result
