"""Spleeter's ``spleeter.model.provider.github`` (the class lives in the package, which
returns it from ``ModelProvider.default()``)."""

from . import GithubModelProvider

__all__ = ["GithubModelProvider"]
