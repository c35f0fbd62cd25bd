"""The plan of a ``separate`` run, made before any model loads: where every file's stems go
(or why they cannot), and which songs are already finished (their stems' tags say so).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..audio import io as audio_io
from ..audio.adapter import is_default_adapter_name
from ..errors import AudioError
from ..files import same_file_key
from . import outputs
from .arguments import stems_setting

if TYPE_CHECKING:
    from .batch import CheckedOptions


class PlannedFile(NamedTuple):
    """One input of a run: its stem paths, or the problem that keeps it from running; ``done``:
    its stems are already there, made as this run would make them (skipped)."""

    name: str
    paths: Optional[Dict[str, Path]]
    problem: Optional[str] = None
    done: bool = False


def plan_outputs(
    files: Sequence[str],
    instruments: Sequence[str],
    output_path: str,
    fmt: outputs.OutputFormat,
    overwrite: bool,
) -> List[PlannedFile]:
    """Where every file's stems go, checked before any work, in input order.

    A stem path that is an input of the run refuses the whole run (ConfigurationError); a file
    whose stems would land on an earlier file's stems, or on files that may not be replaced,
    gets a ``problem`` and is skipped.
    """
    plan: List[PlannedFile] = []
    seen: Dict[Tuple[int, int], str] = {}
    for name in files:
        try:
            audio_io.check_input_file(name)
            identity = same_file_key(name)
            if identity in seen:
                raise AudioError(f"{name}: is the same file as {seen[identity]}, given twice")
            seen[identity] = name
            paths = outputs.output_paths(instruments, name, output_path, fmt)
            plan.append(PlannedFile(name, paths))
        except AudioError as error:
            plan.append(PlannedFile(name, None, str(error)))
    outputs.check_not_inputs({item.name: item.paths for item in plan if item.paths}, files)
    owners: Dict[Path, str] = {}
    for index, (name, paths, _, _) in enumerate(plan):
        if paths is None:
            continue
        try:
            clash = next((path for path in paths.values() if path in owners), None)
            if clash is not None:
                raise AudioError(
                    f"{name}: output {clash} is also the output of {owners[clash]} in this run; "
                    "use a -f/--filename_format with {foldername} to keep both"
                )
            for instrument, path in paths.items():
                outputs.check_replaceable(path, instrument, name, overwrite)
        except AudioError as error:
            plan[index] = PlannedFile(name, None, str(error))
            continue
        owners.update({path: name for path in paths.values()})
    return plan


def mark_done(plan: List[PlannedFile], run: CheckedOptions, adapter: str) -> List[PlannedFile]:
    """``plan`` with ``done`` set for the songs whose stems all carry the tag this run would
    write (same input version, weights, config and options: ``outputs.stems_done``). A user's
    ``adapter`` writes untagged files: its songs are never done. Provisions the model's weights."""
    from ..pretrained.weights import pretrained_weights

    if not is_default_adapter_name(adapter) or not any(item.paths for item in plan):
        return plan
    settings = run.separator
    weights = pretrained_weights(settings.params, model_dir=settings.model_dir)
    setting = stems_setting(
        settings.params, weights.sha256, settings.mwf, settings.segment_frames,
        run.output_format.file_options(run.offset, run.duration),
    )  # fmt: skip
    marked = []
    for item in plan:
        try:
            done = bool(item.paths) and outputs.stems_done(
                item.paths, item.name, outputs.made_digest(setting, item.name)
            )
        except OSError:  # the input went away: its own read reports it
            done = False
        marked.append(item._replace(done=done))
    return marked
