"""A training run (:func:`train_model`), planned once under the run folder's lock: the folder
records its settings (``run.json``) and is resumed when asked or when the defining ones match.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..data.cache_files import SpectrogramCache
from ..errors import ConfigurationError, ModelError
from ..files import write_text_atomic
from ..launch import LaunchOptions, LogRelay, run_launched
from .checkpoint import CheckpointManager
from .config import TrainingOptions, TrainingResult
from .folder import (
    RUN_FILE,
    WORKER_LOGS,
    RunPlan,
    free_run_directory,
    held_lock_descriptors,
    initial_weights_label,
    refuse_foreign_files,
    refuse_non_folder,
    resolve_load_model,
    run_directory,
    run_lock,
)
from .trainer import Trainer

logger = logging.getLogger(__name__)

RUN_FORMAT = 1
IDENTITY_KEYS = ("model", "instrument_list", "mix_name", "n_channels", "sample_rate")
IDENTITY_KEYS += ("frame_length", "frame_step", "T", "F")
RECORDED_KEYS = ("batch_size", "learning_rate", "random_seed", "chunk_duration")
RECORDED_KEYS += ("n_chunks_per_song", "training_cache")
FLAGS = {"T": "-T", "F": "-F", "initial_weights": "-lm", "batch_statistics": "--batch-statistics"}
FLAGS.update(dropout="--dropout", instrument_list="-p", model="-p")


def read_run_settings(run_dir: Path, unreadable: str = "raise") -> Optional[Dict[str, Any]]:
    """The settings a run folder records; None when it has none. Unreadable ones are a
    ConfigurationError (``unreadable="raise"``), else None (``"warn"``: said in a warning;
    ``"ignore"``)."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        settings = {"identity": document["identity"], "recorded": document["recorded"]}
        for part, value in settings.items():
            if not isinstance(value, dict):
                raise ValueError(f"'{part}' is {json.dumps(value)}, not an object")
        if not isinstance(settings["identity"].get("initial_weights"), str):
            raise ValueError("'identity.initial_weights' is not a string")
        return settings
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = (
            f"{path}: unreadable run settings ({error}); pass --resume to continue the run "
            "with the current flags (they are recorded again)"
        )
    if unreadable == "raise":
        raise ConfigurationError(problem)
    if unreadable == "warn":
        logger.warning("%s", problem)
    return None


def write_run_settings(run_dir: Path, settings: Dict[str, Any], params: Dict[str, Any]) -> None:
    document = {"format": RUN_FORMAT, **settings, "config": params}
    write_text_atomic(run_dir / RUN_FILE, json.dumps(document, indent=2))


def _describe(values: Dict[str, Any], keys: List[str]) -> str:
    return ", ".join(f"{FLAGS.get(key, key)} {json.dumps(values.get(key))}" for key in keys)


def _refuse_conflict(run_dir: Path, stored: Dict[str, Any], current: Dict[str, Any]) -> None:
    keys = [key for key in current if stored.get(key) != current[key]]
    if not keys:
        return
    hint = "pass --resume to continue it (its initial weights are already in it), or"
    if keys != ["initial_weights"]:
        hint = "pass its settings to continue it, or"
    raise ConfigurationError(
        f"{run_dir} holds a run started with {_describe(stored, keys)}; this command asks "
        f"{_describe(current, keys)}: {hint} -o {free_run_directory(run_dir)} for a new run"
    )


def plan_run(run_dir: Path, params: Dict[str, Any], options: TrainingOptions) -> RunPlan:
    """Decide whether this command resumes ``run_dir`` or starts a new run there:
    ``options.resume`` True (``--resume``, ignoring ``-lm``), False (``--new-run``), None
    (continue when the settings match); a ConfigurationError on a conflict. The seed to train
    with is ``settings["recorded"]["random_seed"]``: ``options.seed``, else the resumed run's,
    else the config's."""
    resume, seed = options.resume, options.seed
    refuse_non_folder(run_dir)
    checkpoints = CheckpointManager(run_dir / "checkpoints")
    pickled = checkpoints.pickled()
    if pickled:
        raise ConfigurationError(
            f"{run_dir} holds checkpoints of an older version ({pickled[0].name}: a pickle, "
            "never loaded since it can run code); start a new run from its exported weights "
            f"with -lm {run_dir} -o {free_run_directory(run_dir)}"
        )
    identity = {key: params.get(key) for key in IDENTITY_KEYS}
    identity.update(
        initial_weights=initial_weights_label(options.load_model),
        batch_statistics=bool(options.batch_statistics),
        dropout=bool(options.dropout),
    )
    recorded = {key: params.get(key) for key in RECORDED_KEYS}
    if seed is not None:
        recorded["random_seed"] = int(seed)  # --seed, in place of the configuration's
    settings = {"identity": identity, "recorded": recorded}
    latest = checkpoints.latest()
    if latest is None:
        if resume:
            raise ConfigurationError(
                f"--resume: {run_dir} holds no checkpoint; leave out --resume to start a run there"
            )
        refuse_foreign_files(run_dir, read_run_settings(run_dir, "ignore") is not None)
        return RunPlan(run_dir, False, None, settings)
    if resume is False:
        raise ConfigurationError(
            f"--new-run: {run_dir} already holds a run ({latest.name}); use --resume to continue "
            f"it, or -o {free_run_directory(run_dir)} for a new run"
        )
    stored = read_run_settings(run_dir, "warn" if resume else "raise")
    if stored is None and not resume:
        raise ConfigurationError(
            f"{run_dir} holds checkpoints but no {RUN_FILE}; pass --resume to continue it with "
            f"these flags, or -o {free_run_directory(run_dir)} for a new run"
        )
    if stored is not None:
        if resume:
            identity["initial_weights"] = stored["identity"].get("initial_weights")
        _refuse_conflict(run_dir, stored["identity"], identity)
        if seed is None and "random_seed" in stored["recorded"]:
            recorded["random_seed"] = stored["recorded"]["random_seed"]
        for key, value in recorded.items():
            if key in stored["recorded"] and stored["recorded"][key] != value:
                logger.warning(
                    "resuming with %s = %s (the run started with %s)",
                    key,
                    value,
                    stored["recorded"][key],
                )
    return RunPlan(run_dir, True, latest, settings)


# --- a whole training command, as a library call ------------------------------------------------


def check_run(
    params: Dict[str, Any], options: TrainingOptions, launch: Optional[LaunchOptions] = None
) -> RunPlan:
    """What :func:`train_model` would do with its run folder, without locking it: a
    ConfigurationError (or ModelError for a bad ``-lm`` folder) before any other work."""
    if options.run_dir is not None and not str(options.run_dir).strip():
        raise ConfigurationError("-o/--run-dir is empty; give the run folder's path")
    log_dir = launch.log_dir if launch is not None and launch.launched else None
    for flag, folder in (("--visualdl", options.visualdl_dir), ("--log-dir", log_dir)):
        if folder:
            refuse_non_folder(Path(folder), flag)
    run_dir = run_directory(params, options.run_dir)
    plan = plan_run(run_dir, params, options)
    label = plan.settings["identity"]["initial_weights"]
    if not plan.resume and label not in ("scratch", "pretrained", "latest"):
        resolve_load_model(params, options.load_model, run_dir)  # a model directory, checked
    return plan


def train_model(
    params: Dict[str, Any],
    options: Optional[TrainingOptions] = None,
    launch: Optional[LaunchOptions] = None,
) -> TrainingResult:
    """Train on the existing cache as ``spleeter-paddle train`` does, in this process or in
    ``launch.n_procs`` launched ones: conflicts and the cache are checked before any work, then
    the run is planned once under its lock (``-lm`` weights fetched once). Launched runs return
    the final step and the launcher's ``exit_status`` (losses in their worker logs)::

        from spleeter_paddle.training import LaunchOptions, TrainingOptions, train_model
        from spleeter_paddle.training.config import training_configuration

        params = training_configuration("configs/2stems_config.json", batch_size=4)
        result = train_model(params, TrainingOptions(max_steps=1000, load_model=True))
        print(result.step, result.losses[-1], result.run_dir)
        train_model(params, TrainingOptions(resume=True), LaunchOptions(n_procs=4))
    """
    options = options or TrainingOptions()
    run_dir = run_directory(params, options.run_dir)
    options = dataclasses.replace(options, run_dir=str(run_dir))
    check_run(params, options, launch)  # refuse a conflict before any work
    with run_lock(run_dir):  # a busy run folder is refused before the cache is read
        SpectrogramCache(params["training_cache"]).check(params)  # fail before fetching weights
        plan = check_run(params, options)
        options = dataclasses.replace(options, resume=plan.resume)
        # Provision the -lm weights once, here, not concurrently in every worker.
        options = settle_initial_weights(params, options, plan)
        if not plan.resume or read_run_settings(run_dir, "ignore") is None:  # a new run's settings
            write_run_settings(plan.run_dir, plan.settings, params)
        if launch is None or not launch.launched:
            return Trainer(params, options, plan).run()
        # What a worker stopped mid-save left is in the journals: removed when the lock is
        # released (launch_training returns once the workers are gone).
        status = launch_training(
            params,
            dataclasses.asdict(options),
            launch,
            keep_fds=held_lock_descriptors(run_dir),
            plan=plan.to_json(),
        )
        if status not in range(6):  # not 0, nor an error a worker reported itself (errors: 1-5)
            raise ModelError(  # a worker died without a word (killed, a C++ abort in a collective)
                f"{run_dir}: training stopped: a worker process died (launcher exit {status}); see "
                f"{worker_log_dir(run_dir, launch)}/workerlog.<rank>; the checkpoints saved so far"
                " are kept (run the command again to resume)"
            )
        start_step = int(plan.checkpoint.name.split("_")[-1]) if plan.resume else 0
        last = CheckpointManager(run_dir / "checkpoints").list()
        initial = Path(options.initial_weights) if options.initial_weights else None
        step = last[-1][0] if last else start_step
        return TrainingResult(
            run_dir, step, start_step, initial_weights=initial, exit_status=status
        )


def settle_initial_weights(
    params: Dict[str, Any], options: TrainingOptions, plan: RunPlan
) -> TrainingOptions:
    """For a new run: resolve ``-lm`` to a directory (``initial_weights``) and record in the
    plan what is really loaded (``-lm True`` may load the newest own model: its path)."""
    if plan.resume:
        return options
    if options.load_model and not options.initial_weights:
        loaded, initial = resolve_load_model(params, options.load_model, plan.run_dir)
        options = dataclasses.replace(
            options, load_model=loaded, initial_weights=str(initial) if initial else None
        )
    plan.settings["identity"]["initial_weights"] = initial_weights_label(options.load_model)
    initial_path = Path(options.initial_weights).resolve() if options.initial_weights else None
    plan.settings["initial_weights_path"] = str(initial_path) if initial_path else None
    return options


def worker_log_dir(run_dir: Path, launch: LaunchOptions) -> Path:
    """Where the workers' logs go: ``--log-dir``, else ``<run folder>/log``."""
    return Path(launch.log_dir) if launch.log_dir else Path(run_dir) / WORKER_LOGS


def launch_training(
    params: Dict[str, Any],
    options: Dict[str, Any],
    launch: LaunchOptions,
    keep_fds: Sequence[int] = (),
    plan: Optional[Dict[str, Any]] = None,
) -> int:
    """Run ``launch.n_procs`` training processes per node by ``options`` (TrainingOptions fields)
    and ``plan`` (``RunPlan.to_json()``); returns the launcher's exit status. ``keep_fds`` (the run
    lock) stay open in the launcher. The launcher's output goes to ``launcher.log`` in the log
    folder; rank 0's log records are relayed here as they come."""
    run_dir = Path(options["run_dir"])
    log_dir = worker_log_dir(run_dir, launch)
    log_dir.mkdir(parents=True, exist_ok=True)
    launch = dataclasses.replace(launch, log_dir=str(log_dir))
    job = {"task": "train", "params": params, "options": options, "plan": plan}
    device, relay = options.get("device", "auto"), LogRelay(log_dir / "workerlog.0")
    return run_launched(job, run_dir, launch, device, log_dir / "launcher.log", relay, keep_fds)
