"""Spleeter's ``spleeter.separator`` module: ``from spleeter_paddle.separator import Separator``."""

from .separation.separator import Separator

__all__ = ["Separator"]
