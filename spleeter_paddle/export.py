"""Export the network (``[B, C, T, F]`` magnitudes -> ``[B, N, C, T, F]`` estimates) as ONNX,
OpenVINO IR or a Paddle inference graph: a self-describing directory (model files, the
configuration, ``export.json`` with shapes, versions, verification numbers and sha256 of every file).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np

from .configuration import Params, load_configuration
from .errors import ConfigurationError, ModelError
from .options import number
from .separation.backends import (
    DEFAULT_TOLERANCE,
    EXPORT_FORMATS,
    INPUT_NAME,
    MAX_TOLERANCE,
    MODEL_FILES,
    OUTPUT_NAME,
    require,
)

logger = logging.getLogger(__name__)

MANIFEST, CONFIG = "export.json", "config.json"
MANIFEST_VERSION = 1
PathLike = Union[str, Path]


def check_export_options(fmt: str, output: PathLike, overwrite: bool, tolerance: float) -> Path:
    """Everything that can be refused before a model loads (ConfigurationError, exit 2)."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigurationError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    try:
        number(tolerance, 0, MAX_TOLERANCE, exclusive_minimum=True)
    except ValueError as error:
        raise ConfigurationError(f"tolerance {error}") from None
    require(fmt)
    output = Path(output)
    if output.exists() or output.is_symlink():
        if not output.is_dir() or output.is_symlink():
            raise ConfigurationError(f"{output}: exists and is not a directory")
        entries = sorted(path.name for path in output.iterdir())
        if entries:
            foreign = _foreign_entries(output, entries)
            if foreign is not None:
                raise ConfigurationError(
                    f"{output}: not empty and not an export of this tool ({foreign}); "
                    "choose another -o"
                )
            if not overwrite:
                raise ConfigurationError(
                    f"{output}: an export exists; pass --overwrite to replace it"
                )
    return output


def _foreign_entries(output: Path, entries: Sequence[str]) -> Optional[str]:
    """None when ``output`` holds exactly an export this tool wrote (its manifest and the files
    it lists), else what is there that is not: ``--overwrite`` replaces the whole folder."""
    try:
        manifest = json.loads((output / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no readable {MANIFEST}"
    listed = manifest.get("sha256") if isinstance(manifest, dict) else None
    if manifest.get("manifest_version") != MANIFEST_VERSION or not isinstance(listed, dict):
        return f"{MANIFEST} is not an export manifest"
    others = [name for name in entries if name != MANIFEST and name not in listed]
    if others:
        shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        return f"it also holds {shown}"
    return None


def export_model(
    params: Union[str, Path, Params],
    output: PathLike,
    fmt: str = "onnx",
    model_dir: Optional[PathLike] = None,
    overwrite: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Dict[str, Any]:
    """Load ``params``' weights (or ``model_dir``'s) and :func:`export_network` them to ``output``."""
    from .pretrained.provider import load_pretrained_model

    check_export_options(fmt, output, overwrite, tolerance)
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
    from .pretrained.store import file_sha256
    from .separation.backends import build_graph, converter_versions
    from .separation.inference import graph_key

    output = check_export_options(fmt, output, overwrite, tolerance)
    output.parent.mkdir(parents=True, exist_ok=True)
    n_channels, n_bins = int(params["n_channels"]), int(params["F"])
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.export-", dir=output.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for scratch, not for a result
        verification = build_graph(model, n_channels, n_bins, fmt, staging, tolerance)
        (staging / CONFIG).write_text(json.dumps(dict(params), indent=2, sort_keys=True))
        instruments = list(params["instrument_list"])
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "format": fmt,
            "model_files": list(MODEL_FILES[fmt]),
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
        _install(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "exported %s -> %s (max |diff| %.3g vs Paddle on outputs up to %.3g)",
        fmt,
        output,
        verification["max_abs_diff"],
        verification["max_abs_output"],
    )
    return manifest


def _install(staging: Path, output: Path) -> None:
    """Rename ``staging`` to ``output``; a previous export (checked by the caller) is set
    aside first and removed only once the new one is in place."""
    if not output.exists():
        os.replace(staging, output)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    try:
        os.replace(output, aside / "previous")
        try:
            os.replace(staging, output)
        except OSError:
            os.replace(aside / "previous", output)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


class ExportedModel:
    """An export directory, checked (manifest, sha256 of every file) and ready to run.

    ``model(magnitude)``: ``[B, C, T, F]`` float32 -> ``[B, N, C, T, F]``.
    """

    def __init__(self, directory: PathLike, device: str = "cpu"):
        from .pretrained.store import file_sha256
        from .separation.backends import open_graph

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
        for name in (*MODEL_FILES[self.format], CONFIG):
            path = self.directory / name
            if not path.is_file() or file_sha256(path) != expected.get(name):
                raise ModelError(f"{path}: missing or its sha256 differs from {MANIFEST}")
        require(self.format)
        self.params = json.loads((self.directory / CONFIG).read_text())
        self._run: Callable[[np.ndarray], np.ndarray] = open_graph(
            self.directory, self.format, device
        )

    @property
    def instruments(self) -> list:
        return list(self.manifest["output"]["instruments"])

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        shape = self.manifest["input"]["shape"]
        if magnitude.ndim != 4 or list(magnitude.shape[1::2]) != [shape[1], shape[3]]:
            raise ValueError(f"magnitude must be {shape}, got {list(magnitude.shape)}")
        return self._run(magnitude)
