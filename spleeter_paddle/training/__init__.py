"""Training: a whole run and its launch (``run``), the loop (``trainer``), checkpoints and export
(``checkpoint``), the run folder and its initial weights (``folder``), configurations and options
(``config``). Attributes load lazily so that ``training.config`` needs no Paddle.
"""

from importlib import import_module

_EXPORTS = {
    "LaunchOptions": "run",
    "TrainingOptions": "config",
    "TrainingResult": "config",
    "resolve_initial_weights": "folder",
    "train_model": "run",
    "launch_training": "run",
    "training_configuration": "config",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
