"""Spleeter's ``spleeter.model.provider``: ``ModelProvider.default().get("2stems")`` makes sure a
model is installed and returns its folder; over this library's model store and provider
(``spleeter_paddle.pretrained``), which fetch, check and convert the official checkpoints.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Union

from ...errors import ModelError
from ...pretrained.store import WEIGHTS_FILE, is_complete, model_directory, resolve_model_home

PathLike = Union[str, "os.PathLike[str]"]


class _ModelHome:
    """``ModelProvider.DEFAULT_MODEL_PATH``: the model home as ``$MODEL_PATH`` says now."""

    def __get__(self, instance, owner) -> str:
        return str(resolve_model_home())


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
        target = _folder(model_directory)
        if not (is_complete(target) or (target / WEIGHTS_FILE).is_file()):
            self.download(target.name, target)
        return str(target)

    @classmethod
    def default(cls) -> ModelProvider:
        """The provider of the official release (host, repository and release from
        ``GITHUB_HOST``, ``GITHUB_REPOSITORY``, ``GITHUB_RELEASE``, like Spleeter's)."""
        from .github import GithubModelProvider

        return GithubModelProvider.from_environ()


def _folder(model_dir: PathLike) -> Path:
    try:
        return model_directory(os.fspath(model_dir))
    except TypeError:
        raise ModelError(f"model directory must be a path, got {model_dir!r}") from None


__all__ = ["ModelProvider"]
