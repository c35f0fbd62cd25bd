"""Export the network (``[B, C, T, F]`` magnitudes -> ``[B, N, C, T, F]`` estimates) as ONNX,
OpenVINO IR or a Paddle inference graph: a self-describing directory (model files, the
configuration, ``export.json`` with shapes, versions, verification numbers and sha256 of every file).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np

from ..configuration import Params, load_configuration
from ..errors import ConfigurationError, ModelError
from ..files import PathLike, file_sha256, write_errors
from ..options import checked, choice, number, path_value, strict_bool
from ..ownership import held_folders, install_folder, recorded_problem, staged_folder
from ..pretrained.store import name_list
from ..pretrained.weights import load_pretrained_model
from .cache import graph_key
from .convert import (
    DEFAULT_TOLERANCE,
    EXPORT_FORMATS,
    MAX_TOLERANCE,
    build_graph,
    converter_versions,
    require,
)
from .runners import INPUT_NAME, OUTPUT_NAME, known_model_files, model_files, open_graph

logger = logging.getLogger(__name__)

MANIFEST, CONFIG = "export.json", "config.json"
MANIFEST_VERSION = 1


def check_export_options(fmt: str, output: PathLike, overwrite: bool, tolerance: float) -> Path:
    """Everything that can be refused before a model loads (ConfigurationError, exit 2)."""
    checked("format", choice, fmt, EXPORT_FORMATS, error=ConfigurationError)
    checked("tolerance", _tolerance, tolerance, error=ConfigurationError)
    output = Path(checked("output", path_value, output, error=ConfigurationError))
    checked("overwrite", strict_bool, overwrite, error=ConfigurationError)
    require(fmt)
    _check_target(output, overwrite)
    return output


def _tolerance(value: Any) -> float:
    return number(value, 0, MAX_TOLERANCE, exclusive_minimum=True)


def _check_target(
    output: Path, overwrite: bool, *, during: str = "", folder: Optional[Path] = None
) -> None:
    """Refuse ``output`` unless it is absent, empty, or (with ``overwrite``) exactly an export
    of this tool (``folder``: where that folder is now); ``during`` tells the reader the folder
    changed while this export ran."""
    folder = output if folder is None else folder
    if not (folder.exists() or folder.is_symlink()):
        return
    if not folder.is_dir() or folder.is_symlink():
        raise ConfigurationError(f"{output}: exists and is not a directory{during}")
    entries = sorted(path.name for path in folder.iterdir())
    if not entries:
        return
    foreign = _foreign_entries(folder, entries)
    if foreign is not None:
        raise ConfigurationError(
            f"{output}: not empty and not an export of this tool ({foreign}){during}; "
            "choose another -o"
        )
    if not overwrite:
        raise ConfigurationError(
            f"{output}: an export exists{during}; pass --overwrite to replace it"
        )


def _foreign_entries(output: Path, entries: Sequence[str]) -> Optional[str]:
    """None when ``output`` holds exactly an export this tool wrote (its manifest, with this
    tool's keys, and regular files whose sha256 it records: the folder's own record,
    ``ownership``), else what is there that is not: ``--overwrite`` replaces the whole folder,
    so nothing else may be in it."""
    path = output / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"no readable {MANIFEST}"
    if not _is_export_manifest(manifest):
        return f"{MANIFEST} is not an export manifest"
    listed = manifest["sha256"]
    others = [name for name in entries if name != MANIFEST and name not in listed]
    if others:
        return f"it also holds {name_list(others)}"
    return recorded_problem(
        output, listed, [name for name in entries if name != MANIFEST], MANIFEST
    )


def _is_export_manifest(manifest: Any) -> bool:
    """``export.json`` as :func:`export_network` writes it (the keys, not merely two of them)."""
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        return False
    fmt, listed = manifest.get("format"), manifest.get("sha256")
    return (
        isinstance(fmt, str)
        and fmt in EXPORT_FORMATS
        and manifest.get("model_files") in known_model_files(fmt)
        and isinstance(listed, dict)
        and all(isinstance(digest, str) for digest in listed.values())
        and all(isinstance(manifest.get(key), dict) for key in ("input", "output", "source"))
        and "graph_key" in manifest["source"]
    )


def export_model(
    params: Union[str, Path, Params],
    output: PathLike,
    fmt: str = "onnx",
    model_dir: Optional[PathLike] = None,
    overwrite: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Dict[str, Any]:
    """Load ``params``' weights (or ``model_dir``'s) and :func:`export_network` them to ``output``."""
    check_export_options(fmt, output, overwrite, tolerance)
    if model_dir is not None:
        model_dir = checked("model_dir", path_value, model_dir, error=ConfigurationError)
    params = load_configuration(params)
    model = load_pretrained_model(params, model_dir=model_dir)
    source = {"model_dir": str(Path(model_dir).resolve()) if model_dir else params["model_dir"]}
    return export_network(model, params, output, fmt, overwrite, tolerance, source)


def export_network(
    model,
    params: Params,
    output: PathLike,
    fmt: str = "onnx",
    overwrite: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    source: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Export a built ``model`` of ``params``; returns the manifest written to ``export.json``.

    The export is verified against ``model`` before anything reaches ``output``: a failure
    raises ModelError with the numbers and leaves ``output`` as it was. Files are staged in a
    temporary directory beside ``output`` and renamed into place; every exit path removes it.
    """
    output = check_export_options(fmt, output, overwrite, tolerance)

    def busy(folder: Path) -> str:
        return f"{folder}: another spleeter-paddle run is writing there; wait for it to finish"

    # A killed export's staging folder is removed when the parent folder is held.
    held = held_folders([output.parent], ConfigurationError, busy)
    failed = f"{output}: cannot write the export"
    with (
        held,
        staged_folder(output, ".export") as staging,
        write_errors(failed, ModelError, staging),
    ):
        manifest, verification = _stage(model, params, fmt, staging, tolerance, source)
        _install(staging, output, overwrite)
    logger.info(
        "exported %s -> %s (max |diff| %.3g vs Paddle on outputs up to %.3g)",
        fmt,
        output,
        verification["max_abs_diff"],
        verification["max_abs_output"],
    )
    return manifest


def _stage(model, params: Params, fmt: str, staging: Path, tolerance: float, source):
    """Write and verify the export in ``staging``; ``(manifest, verification)``."""
    n_channels, n_bins = int(params["n_channels"]), int(params["F"])
    verification = build_graph(model, n_channels, n_bins, fmt, staging, tolerance)
    (staging / CONFIG).write_text(json.dumps(dict(params), indent=2, sort_keys=True))
    instruments = list(params["instrument_list"])
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "format": fmt,
        "model_files": list(model_files(fmt)),
        "input": {
            "name": INPUT_NAME,
            "shape": ["B", n_channels, "T", n_bins],
            "dtype": "float32",
            "meaning": "mix magnitudes |STFT| (channel, frame, bin)",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["B", len(instruments), n_channels, "T", n_bins],
            "dtype": "float32",
            "meaning": "instrument magnitude estimates, in instrument order",
            "instruments": instruments,
        },
        "segment_frames": 512,
        "T_multiple": 64 if str(params["model"]["type"]).startswith("unet.") else 1,
        "sample_rate": params["sample_rate"],
        "frame_length": params["frame_length"],
        "frame_step": params["frame_step"],
        "converters": converter_versions(fmt),
        "verification": verification,
        "source": {**(source or {}), "graph_key": graph_key(model, n_channels, n_bins)},
        "sha256": {
            path.name: file_sha256(path) for path in sorted(staging.iterdir()) if path.is_file()
        },
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest, verification


def _install(staging: Path, output: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``output`` (``ownership.install_folder``): an export another run
    installed meanwhile is never replaced silently, the rule is checked again then."""
    during = " (written while this export ran; nothing written)"
    try:
        install_folder(
            staging,
            output,
            lambda folder: _check_target(output, overwrite, during=during, folder=folder),
        )
    except FileExistsError:
        raise ConfigurationError(
            f"{output}: another run wrote there while this export ran; nothing written"
        ) from None


class ExportedModel:
    """An export directory, checked (manifest, sha256 of every file) and ready to run.

    ``model(magnitude)``: ``[B, C, T, F]`` float32 -> ``[B, N, C, T, F]``.
    """

    def __init__(self, directory: PathLike, device: str = "cpu"):
        self.directory = Path(directory)
        try:
            self.manifest = json.loads((self.directory / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise ModelError(f"{self.directory}: not a readable export ({error})") from None
        if self.manifest.get("manifest_version") != MANIFEST_VERSION:
            raise ModelError(f"{self.directory}: unknown export version; export it again")
        self.format = self.manifest.get("format")
        if self.format not in EXPORT_FORMATS:
            raise ModelError(f"{self.directory}: unknown export format {self.format!r}")
        expected = self.manifest.get("sha256", {})
        self._check_program()
        for name in (*model_files(self.format), CONFIG):
            if recorded_problem(self.directory, expected, [name], MANIFEST) is not None:
                path = self.directory / name
                raise ModelError(f"{path}: missing or its sha256 differs from {MANIFEST}")
        require(self.format)
        self.params = json.loads((self.directory / CONFIG).read_text())
        self._run: Callable[[np.ndarray], np.ndarray] = open_graph(
            self.directory, self.format, device
        )

    def _check_program(self) -> None:
        """ModelError when a Paddle export holds a program this Paddle does not read: an export
        made with Paddle 3 (``model.json``) opened under Paddle 2.6, or the other way round."""
        listed, readable = self.manifest.get("model_files"), list(model_files(self.format))
        if listed == readable or listed not in known_model_files(self.format):
            return  # this Paddle's files, or a damaged manifest (the sha256 check says so)
        from ..runtime import paddle

        made_with = self.manifest.get("converters", {}).get("paddle", "another version")
        raise ModelError(
            f"{self.directory}: exported with Paddle {made_with} ({listed}); Paddle "
            f"{paddle.__version__} reads {readable[0]} programs: export it again with this Paddle"
        )

    @property
    def instruments(self) -> list:
        return list(self.manifest["output"]["instruments"])

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        shape = self.manifest["input"]["shape"]
        if magnitude.ndim != 4 or list(magnitude.shape[1::2]) != [shape[1], shape[3]]:
            raise ValueError(f"magnitude must be {shape}, got {list(magnitude.shape)}")
        return self._run(magnitude)
