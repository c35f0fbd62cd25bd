"""Device choice: a custom device (Tecorigin ``sdaa``) if Paddle reports one, else GPU, else CPU
(the SDAA variables Paddle reads at import are ``environment.py``'s)."""

from __future__ import annotations

import contextlib
import logging
import os

from .options import checked, choice
from .runtime import paddle
from .vocab import DEVICES as DEVICE_CHOICES

logger = logging.getLogger(__name__)


def available_device_type(preference: str = "auto") -> str:
    """``preference`` if available (else a warning), else the best of sdaa > gpu > cpu."""
    checked("device", choice, preference, DEVICE_CHOICES)
    custom = list(paddle.device.get_all_custom_device_type() or [])
    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if {"auto": False, "cpu": True, "gpu": has_gpu, "sdaa": "sdaa" in custom}[preference]:
        return preference  # asked for, and here
    best = ("sdaa" if "sdaa" in custom else custom[0]) if custom else "gpu" if has_gpu else "cpu"
    if preference != "auto":
        logger.warning("device %s is not available here; using %s", preference, best)
    return best


def select_device(preference: str = "auto") -> str:
    """Choose and activate a device for this process's card (``paddle.set_device``): the
    launcher's ``FLAGS_selected_*`` in a process of ``paddle.distributed.launch``, else 0;
    returns e.g. ``"sdaa:0"`` or ``"cpu"``."""
    device = available_device_type(preference)
    if device != "cpu":
        card = 0
        if int(os.environ.get("PADDLE_TRAINERS_NUM", 1)) > 1:
            with contextlib.suppress(AttributeError):  # CPU processes have no card
                card = int(paddle.distributed.ParallelEnv().device_id)
        device = f"{device}:{card}"
    paddle.set_device(device)
    return device
