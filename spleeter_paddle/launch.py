"""Several processes (one per card, on one or several nodes) through ``paddle.distributed.launch``:
training, separation and evaluation launch :mod:`spleeter_paddle.launched` with a job file.
Worker logs go to ``<log_dir>/workerlog.<rank>``, never into the working directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .environment import prepare_sdaa_environment, user_omp_num_threads
from .errors import ConfigurationError, SpleeterError
from .files import write_text_atomic

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("launched.py")
# The launcher gives its workers 30 s to stop before it kills them; then it is killed itself.
LAUNCHER_STOP_S = 60.0
POLL_S = 1.0  # how often a caller's ``on_tick`` runs while the workers work


@dataclass
class LaunchOptions:
    """``-npn``, ``--nnodes``, ``--master``, ``--ips``, ``--devices``, ``--log-dir``: processes
    started by ``python -m paddle.distributed.launch`` (one per card)."""

    n_procs: int = 1  # processes (cards) per node
    nnodes: Optional[str] = None  # number of nodes (multi-node)
    master: Optional[str] = None  # rendezvous ip:port (multi-node)
    ips: Optional[str] = None  # comma list of node ips (multi-node, legacy form)
    devices: Optional[str] = None  # card ids for the launcher, e.g. "0,1,2,3"
    log_dir: Optional[str] = None  # workerlog.<rank> files (default: the command's own place)

    @property
    def launched(self) -> bool:
        return max(1, self.n_procs) > 1 or bool(self.nnodes)

    @property
    def multi_node(self) -> bool:
        return (bool(self.nnodes) and str(self.nnodes) != "1") or "," in (self.ips or "")


def world_info() -> Tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment; ``(0, 1)`` outside it."""
    environ = os.environ
    return int(environ.get("PADDLE_TRAINER_ID", 0)), int(environ.get("PADDLE_TRAINERS_NUM", 1))


def init_distributed() -> Tuple[int, int]:
    """Initialise the collective environment when launched with several processes."""
    rank, world_size = world_info()
    if world_size > 1:
        import paddle.distributed as dist

        dist.init_parallel_env()
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return rank, world_size


def launch_command(n_procs: int, job_file: Path, launch: LaunchOptions) -> List[str]:
    """The ``python -m paddle.distributed.launch ...`` command line for the worker."""
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(n_procs)]
    for flag, value in (
        ("--master", launch.master),
        ("--nnodes", launch.nnodes),
        ("--ips", launch.ips),
        ("--devices", launch.devices),
        ("--log_dir", launch.log_dir),
    ):
        if value:
            command += [flag, str(value)]
    return command + [str(WORKER_SCRIPT), "--job", str(job_file)]


def launch_environment(
    device: str = "auto", base: Optional[Dict[str, str]] = None, n_procs: int = 1
) -> Dict[str, str]:
    """Environment for the launched workers: SDAA variables, quiet glog, and the CPU cores shared
    between the ``n_procs`` workers (unless the user set them)."""
    environ = dict(os.environ if base is None else base)
    environ.setdefault("GLOG_minloglevel", "2")
    if base is None and user_omp_num_threads() is None:
        environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, n_procs)))
    if device in ("auto", "sdaa"):
        prepare_sdaa_environment(environ)
    if environ.get("CUDA_VISIBLE_DEVICES") == "":
        # Paddle's launcher reads an empty list as one card named "" (an IndexError from the
        # second process on, no gloo group across nodes); it starts CPU processes only when it
        # finds no card at all.
        from .runtime import paddle

        if paddle.device.is_compiled_with_cuda():
            raise ConfigurationError(
                "CUDA_VISIBLE_DEVICES is empty: Paddle's launcher cannot start several processes "
                "with the cards hidden; unset it (--devices picks cards) or use the CPU build"
            )
        del environ["CUDA_VISIBLE_DEVICES"]  # a CPU build: no card to hide
    return environ


def run_launched(
    job: Dict[str, Any],
    folder: Path,
    launch: LaunchOptions,
    device: str,
    output: Path,
    on_tick: Callable[[], None],
    keep_fds: Sequence[int] = (),
) -> int:
    """Run ``launch.n_procs`` workers per node on ``job`` (a file in ``folder`` while they run);
    returns the launcher's exit status. ``keep_fds`` (a lock) stay open in the launcher, so that
    they outlive this process; ``output`` takes the launcher's output; ``on_tick()`` runs every
    second and at the end. Any exception here (Ctrl-C, SIGTERM) stops the launcher and waits."""
    n_procs = max(1, launch.n_procs)
    descriptor, name = tempfile.mkstemp(prefix=".launch-", suffix=".json", dir=folder)
    job_path = Path(name)
    with os.fdopen(descriptor, "w") as stream:
        json.dump(job, stream, default=os.fspath)  # paths given as Path objects: their text
    command = launch_command(n_procs, job_path, launch)
    logger.info("launching: %s", " ".join(command))
    try:
        with open(output, "ab") as stream:
            # A session of its own: a stop reaches it once, from here, whoever was signalled.
            launcher = subprocess.Popen(
                command,
                env=launch_environment(device, n_procs=n_procs),
                start_new_session=True,
                pass_fds=tuple(keep_fds),
                stdout=stream,
                stderr=subprocess.STDOUT,
            )
            try:
                while True:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        launcher.wait(timeout=POLL_S)  # sets returncode once it has ended
                    on_tick()
                    if launcher.returncode is not None:
                        return launcher.returncode
            except BaseException as stop:
                interrupt = signal.SIGINT if isinstance(stop, KeyboardInterrupt) else None
                stop_launcher(launcher, interrupt)
                raise
    finally:
        job_path.unlink(missing_ok=True)


def stop_launcher(launcher: subprocess.Popen, signal_number: Optional[int] = None) -> None:
    """Signal the launcher's process group (SIGINT for Ctrl-C, else SIGTERM) and wait for it;
    after ``LAUNCHER_STOP_S`` (or a second Ctrl-C) kill it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launcher.pid, signal_number or signal.SIGTERM)
    try:
        launcher.wait(timeout=LAUNCHER_STOP_S)
        return
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        logger.warning("the launcher did not stop in time: killing it (pid %d)", launcher.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()


def new_lines(path: Path, offsets: Dict[Path, int]) -> List[bytes]:
    """The whole lines written to ``path`` since the last call (``offsets`` keeps how far each
    file was read); none while it does not exist yet."""
    try:
        with open(path, "rb") as stream:
            stream.seek(offsets.get(path, 0))
            data = stream.read()
    except FileNotFoundError:
        return []
    complete = data[: data.rfind(b"\n") + 1]
    offsets[path] = offsets.get(path, 0) + len(complete)
    return complete.splitlines()


class LogRelay:
    """Called every second (``run_launched``'s ``on_tick``): copies to this process's stderr the
    new lines of a worker's log that are this library's log records (``logs.LOG_FORMAT``), so
    that rank 0's progress shows while the launcher's own chatter and a dying collective's C++
    dump stay in the log folder."""

    RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[ *[A-Z]+\] - ")

    def __init__(self, log: Path):
        self.log, self.offsets = Path(log), {}

    def __call__(self) -> None:
        try:
            lines = new_lines(self.log, self.offsets)
        except OSError:  # unreadable for now: the logs stay in the log folder
            return
        for line in lines:
            text = line.decode("utf-8", errors="replace")
            if self.RECORD.match(text):
                sys.stderr.write(text + "\n")
        sys.stderr.flush()


# --- a job whose items (songs) are shared between the processes --------------------------------


def share_by_duration(items: Sequence[Mapping[str, Any]], n_shares: int) -> List[List[int]]:
    """Indices of ``items`` for each of ``n_shares`` processes, balanced by ``seconds`` (the same
    split in every process); items whose ``folders`` meet go to one share together."""
    owner: Dict[str, int] = {}
    units: Dict[int, List[int]] = {}
    for index, item in enumerate(items):
        joined = sorted({owner[f] for f in item.get("folders", ()) if f in owner})
        unit = joined[0] if joined else index
        members = [index] + [m for other in joined for m in units.pop(other)]
        units[unit] = sorted(members)
        for member in members:
            for folder in items[member].get("folders", ()):
                owner[folder] = unit
    seconds = {unit: sum(float(items[m]["seconds"]) for m in ms) for unit, ms in units.items()}
    loads = [0.0] * n_shares
    shares: List[List[int]] = [[] for _ in range(n_shares)]
    for unit in sorted(units, key=lambda unit: (-seconds[unit], units[unit][0])):
        share = min(range(n_shares), key=lambda number: (loads[number], number))
        shares[share] += units[unit]
        loads[share] += seconds[unit]
    return [
        sorted(share, key=lambda index: (-float(items[index]["seconds"]), index))
        for share in shares
    ]


OUTCOMES = "outcome.{rank}.jsonl"  # one JSON line per finished item, in a job folder
WORKER_ERROR = "error.{rank}.json"  # the error that stopped a worker, in a job folder


def run_shared_job(
    job: Dict[str, Any],
    launch: LaunchOptions,
    device: str,
    report: Callable[[Dict[str, Any]], None],
    names: Sequence[str],
    verb: str,
) -> Tuple[Dict[str, Dict[str, Any]], Optional[SpleeterError]]:
    """Launch the workers on ``job`` (of ``job["task"]``) in a temporary job folder (job file,
    outcomes, their logs unless ``--log-dir``), ``report(outcome)`` as each item ends: ``({item
    name: outcome}, problem)``, ``problem`` saying why some of ``names`` have no outcome (a
    worker's own error, or a worker that died), else None. The folder is removed unless a worker
    failed and its logs are in it (then they are kept and named)."""
    kind = job["task"]
    folder = Path(tempfile.mkdtemp(prefix=f"spleeter-paddle-{kind}-"))
    log_dir = Path(launch.log_dir) if launch.log_dir else folder / "log"
    outcomes: Dict[str, Dict[str, Any]] = {}
    offsets: Dict[Path, int] = {}
    keep = False

    def read() -> None:  # the outcomes' whole lines written since the last read
        for path in sorted(folder.glob(OUTCOMES.format(rank="*"))):
            for outcome in (json.loads(line) for line in new_lines(path, offsets) if line.strip()):
                if outcome["name"] not in outcomes:
                    outcomes[outcome["name"]] = outcome
                    report(outcome)

    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        job = dict(job, folder=str(folder), multi_node=launch.multi_node)
        n_procs, launch = max(1, launch.n_procs), dataclasses.replace(launch, log_dir=str(log_dir))
        logger.info(
            "%s: %d processes per node; their logs: %s/workerlog.<rank>", kind, n_procs, log_dir
        )
        status = run_launched(job, folder, launch, device, log_dir / "launcher.log", read)
        errors = sorted(folder.glob(WORKER_ERROR.format(rank="*")))
        missing = [name for name in names if name not in outcomes]
        keep, problem = bool(errors or missing or status), None
        if errors:
            found = json.loads(errors[0].read_text(encoding="utf-8"))
            problem = SpleeterError(found["message"])
            problem.exit_code = int(found["exit_code"])
        elif missing:
            problem = SpleeterError(
                f"{len(missing)} of {len(names)} songs not {verb} ({', '.join(missing[:3])}"
                f"{', ...' if len(missing) > 3 else ''}): a worker process died (launcher exit "
                f"{status}); see {log_dir}/workerlog.<rank>; the finished songs are kept: "
                "run the command again to finish"
            )
        elif status:
            logger.warning("the launcher ended with status %d after every item", status)
        return outcomes, problem
    finally:
        if keep:
            logger.info("the workers' logs are kept in %s", log_dir)
        if not (keep and log_dir == folder / "log"):  # --log-dir: the logs are not in it
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def launched_shares(
    job: Dict[str, Any],
) -> Iterator[Tuple[List[Dict[str, Any]], Callable[[Dict[str, Any]], None]]]:
    """In a launched worker: ``(this rank's share of job["songs"], record)``, ``record(outcome)``
    writing an outcome (or a SpleeterError) for the parent. Several nodes follow rank 0's job
    (``job`` is updated in place) and gather every outcome, so each node's parent has them all."""
    folder = Path(job["folder"])
    rank, world_size = world_info()
    try:
        if job.get("multi_node"):
            import paddle.distributed as dist

            rank, world_size = init_distributed()
            shared = [{key: value for key, value in job.items() if key != "folder"}]
            dist.broadcast_object_list(shared, src=0)
            job.update(shared[0])  # in place: the caller reads rank 0's job too
        songs = job["songs"]
        share = [songs[index] for index in share_by_duration(songs, world_size)[rank]]
        recorded: List[Dict[str, Any]] = []
        outcomes = folder / OUTCOMES.format(rank=rank)

        def record(outcome: Dict[str, Any]) -> None:
            recorded.append(outcome)
            _append_line(outcomes, json.dumps(outcome))

        yield share, record
        if job.get("multi_node"):
            gathered: List[Any] = []
            dist.all_gather_object(gathered, recorded)
            for outcome in (item for ranks in gathered for item in ranks):
                if outcome not in recorded:
                    _append_line(outcomes, json.dumps(outcome))
    except SpleeterError as error:
        message = json.dumps({"message": str(error), "exit_code": error.exit_code})
        write_text_atomic(folder / WORKER_ERROR.format(rank=rank), message)
        raise


def _append_line(path: Path, line: str) -> None:
    """One whole line at the end of ``path`` (one write: a reader never sees half of it)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)
