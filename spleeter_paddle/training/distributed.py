"""Multi-card training: the launched processes (``spleeter_paddle.launch``) each run the same
training with ``paddle.DataParallel``; only rank 0 logs and saves.

The parent writes the resolved configuration, options and run plan to a job file in the run
folder; each process reads it (``trainer.run_job``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..launch import LaunchOptions, run_launched
from ..pretrained.store import weights_digest
from .folder import WORKER_LOGS


def gather_digests(model: Any) -> List[str]:
    """Every rank's weights digest (a collective call: all ranks must make it)."""
    import paddle.distributed as dist

    digests: List[str] = []
    dist.all_gather_object(digests, weights_digest(model.state_dict()))
    return digests


def worker_log_dir(run_dir: Path, launch: LaunchOptions) -> Path:
    """Where the workers' logs go: ``--log-dir``, else ``<run folder>/log``."""
    return Path(launch.log_dir) if launch.log_dir else Path(run_dir) / WORKER_LOGS


def launch_training(
    params: Dict[str, Any],
    options: Dict[str, Any],
    launch: LaunchOptions,
    extra_env: Optional[Dict[str, str]] = None,
    keep_fds: Sequence[int] = (),
    plan: Optional[Dict[str, Any]] = None,
) -> int:
    """Run ``launch.n_procs`` training processes per node; returns the launcher's exit status.

    ``options`` are :class:`~spleeter_paddle.training.config.TrainingOptions` fields and ``plan``
    the run's :class:`~spleeter_paddle.training.folder.RunPlan` (JSON), what every worker trains by.
    Worker logs go to :func:`worker_log_dir` (rank 0 is also echoed by the launcher).
    ``keep_fds`` (the run lock) stay open in the launcher (see ``launch.run_launched``).
    """
    run_dir = Path(options["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    launch = dataclasses.replace(launch, log_dir=str(worker_log_dir(run_dir, launch)))
    job = {"task": "train", "params": params, "options": options, "plan": plan}
    device = options.get("device", "auto")
    return run_launched(job, run_dir, launch, device, extra_env, keep_fds)
