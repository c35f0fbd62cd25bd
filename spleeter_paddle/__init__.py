"""spleeter-paddle: Deezer's Spleeter music source separation on PaddlePaddle.

>>> from spleeter_paddle import Separator
>>> stems = Separator("spleeter:2stems").separate(waveform)   # {"vocals": (n, 2), ...}
"""

from __future__ import annotations

__version__ = "0.1.0"

from .configuration import load_configuration
from .environment import signals_deferred
from .errors import SpleeterError

with signals_deferred():  # numpy's BLAS threads never take Ctrl-C/SIGTERM (runtime: Paddle's load)
    import numpy  # noqa: F401


def __getattr__(name: str):
    # Importing Separator loads Paddle (through ``runtime``): only when asked for.
    if name == "Separator":
        from .separation.separator import Separator

        return Separator
    raise AttributeError(name)


__all__ = ["Separator", "SpleeterError", "load_configuration", "__version__"]
