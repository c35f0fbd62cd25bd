"""Multi-card training: ``python -m paddle.distributed.launch`` around :mod:`.worker`, rank info.

The parent writes the resolved configuration and options to a job file; every launched
process (one per card, on one or several nodes) reads it and runs the same training with
``paddle.DataParallel``. Only rank 0 logs and saves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..environment import prepare_sdaa_environment, sdaa_plugin_installed, user_omp_num_threads
from ..pretrained.store import weights_digest

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
# The launcher gives its workers 30 s to stop before it kills them; then it is killed itself.
LAUNCHER_STOP_S = 60.0


def world_info() -> Tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment; ``(0, 1)`` outside it."""
    return int(os.environ.get("PADDLE_TRAINER_ID", 0)), int(
        os.environ.get("PADDLE_TRAINERS_NUM", 1)
    )


def init_distributed() -> Tuple[int, int]:
    """Initialise the collective environment when launched with several processes."""
    rank, world_size = world_info()
    if world_size > 1:
        import paddle.distributed as dist

        dist.init_parallel_env()
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return rank, world_size


def local_device_id() -> int:
    """The card index this process drives (the launcher's ``FLAGS_selected_*``), 0 otherwise."""
    if world_info()[1] > 1:
        from paddle.distributed import ParallelEnv

        try:
            return int(ParallelEnv().device_id)
        except AttributeError:  # CPU processes have no card
            return 0
    return 0


def gather_digests(model: Any) -> List[str]:
    """Every rank's weights digest (a collective call: all ranks must make it)."""
    import paddle.distributed as dist

    digests: List[str] = []
    dist.all_gather_object(digests, weights_digest(model.state_dict()))
    return digests


def launch_command(
    n_procs: int,
    job_file: Path,
    master: Optional[str] = None,
    nnodes: Optional[str] = None,
    ips: Optional[str] = None,
    devices: Optional[str] = None,
    log_dir: Optional[str] = None,
) -> List[str]:
    """The ``python -m paddle.distributed.launch ...`` command line for the worker."""
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(n_procs)]
    for flag, value in (
        ("--master", master),
        ("--nnodes", nnodes),
        ("--ips", ips),
        ("--devices", devices),
        ("--log_dir", log_dir),
    ):
        if value:
            command += [flag, str(value)]
    return command + [str(WORKER_SCRIPT), "--job", str(job_file)]


def launch_environment(
    device: str = "auto", base: Optional[Dict[str, str]] = None, n_procs: int = 1
) -> Dict[str, str]:
    """Environment for the launched workers: SDAA variables when the plugin is installed (unless
    the user set them), quiet glog, and the CPU cores shared between the ``n_procs`` workers
    (unless the user set OMP_NUM_THREADS)."""

    environ = dict(os.environ if base is None else base)
    environ.setdefault("GLOG_minloglevel", "2")
    if base is None and user_omp_num_threads() is None:
        environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, n_procs)))
    if device in ("auto", "sdaa") and sdaa_plugin_installed():
        prepare_sdaa_environment(environ)
    return environ


def launch_training(
    params: Dict[str, Any],
    options: Dict[str, Any],
    n_procs: int,
    master: Optional[str] = None,
    nnodes: Optional[str] = None,
    ips: Optional[str] = None,
    devices: Optional[str] = None,
    log_dir: Optional[str] = "log",
    extra_env: Optional[Dict[str, str]] = None,
    keep_fds: Sequence[int] = (),
    plan: Optional[Dict[str, Any]] = None,
) -> int:
    """Run ``n_procs`` training processes per node; returns the launcher's exit status.

    ``options`` are :class:`~spleeter_paddle.training.config.TrainingOptions` fields and ``plan``
    the run's :class:`~spleeter_paddle.training.folder.RunPlan` (JSON), what every worker trains by.
    Worker logs go to ``log_dir/workerlog.<rank>`` (rank 0 is also echoed by the launcher).
    ``keep_fds`` (the run lock) stay open in the launcher, so that the lock outlives this
    process if it is killed outright. Ctrl-C, SIGTERM or SIGHUP here (any exception) is passed
    on to the launcher, which stops its workers; it returns once they are gone.
    """
    run_dir = Path(options["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor, job_path = tempfile.mkstemp(prefix=".launch-", suffix=".json", dir=run_dir)
    with os.fdopen(descriptor, "w") as stream:
        json.dump({"params": params, "options": options, "plan": plan}, stream)
    environ = launch_environment(options.get("device", "auto"), n_procs=n_procs)
    environ.update(extra_env or {})
    command = launch_command(n_procs, Path(job_path), master, nnodes, ips, devices, log_dir)
    logger.info("launching: %s", " ".join(command))
    try:
        # A session of its own: a stop reaches it once, from here, whoever was signalled.
        launcher = subprocess.Popen(
            command, env=environ, start_new_session=True, pass_fds=tuple(keep_fds)
        )
        try:
            return launcher.wait()
        except BaseException as stop:
            stop_launcher(launcher, signal.SIGINT if isinstance(stop, KeyboardInterrupt) else None)
            raise
    finally:
        Path(job_path).unlink(missing_ok=True)


def stop_launcher(
    launcher: subprocess.Popen,
    signal_number: Optional[int] = None,
    grace_s: float = LAUNCHER_STOP_S,
) -> None:
    """Signal the launcher's process group (SIGINT for Ctrl-C, else SIGTERM: the launcher stops
    its workers on either) and wait for it; after ``grace_s`` (or a second Ctrl-C) kill it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launcher.pid, signal_number or signal.SIGTERM)
    try:
        launcher.wait(timeout=grace_s)
        return
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        logger.warning("the launcher did not stop in time: killing it (pid %d)", launcher.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
