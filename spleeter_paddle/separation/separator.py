"""The public ``Separator``: load a model once, separate waveforms or files, segment by segment.

>>> separator = Separator("spleeter:2stems")
>>> stems = separator.separate(waveform)          # (n, channels) float32 at 44.1 kHz
>>> stems["vocals"].shape                          # (n, 2)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np

from ..configuration import Params, load_configuration
from ..devices import select_device
from ..model import build_model
from .inference import make_runner
from .pipeline import SignalChain, array_blocks, separate_blocks

logger = logging.getLogger(__name__)


def to_stereo(waveform: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(n, C)`` -> ``(n, 2)`` float32: mono duplicated, beyond 2 channels dropped."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim == 1:
        waveform = waveform[:, None]
    if waveform.ndim != 2 or waveform.shape[1] == 0:
        raise ValueError(f"waveform must be (n_samples, n_channels), got shape {waveform.shape}")
    if waveform.shape[1] == 1:
        return np.repeat(waveform, 2, axis=1)
    return np.ascontiguousarray(waveform[:, :2])


class Separator:
    """Spleeter separation with a model loaded once.

    Args:
        params: ``spleeter:<preset>``, a JSON config path, or a config dict.
        mwf: multichannel Wiener filter (norbert, exact to the song-wide statistics).
        device: ``auto`` (sdaa > gpu > cpu), ``cpu``, ``gpu`` or ``sdaa``.
        model_dir: directory with ``model.safetensors`` (e.g. a trained model); default: the
            config's ``model_dir``, provisioned with the official weights when it is a preset.
        backend: ``auto`` (fastest: ``paddle.inference`` predictor), ``predictor`` or ``eager``.
        batch_size: T-frame segments per model call.
    """

    def __init__(
        self,
        params: Union[str, Path, Params] = "spleeter:2stems",
        mwf: bool = False,
        device: str = "auto",
        model_dir: Union[str, Path, None] = None,
        backend: str = "auto",
        batch_size: int = 1,
    ):
        self.params = load_configuration(params)
        self.mwf = mwf
        self.chain = SignalChain.from_params(self.params)
        self.batch_size = max(1, int(batch_size))
        self.device = select_device(device)
        self.model = load_model(self.params, model_dir)
        self._runner = make_runner(
            self.model, self.params["n_channels"], self.params["F"], self.device, backend
        )
        logger.info(
            "separator ready: %s on %s (%s)",
            ", ".join(self.instruments),
            self.device,
            self._runner.name,
        )

    @property
    def instruments(self) -> list:
        return list(self.params["instrument_list"])

    @property
    def sample_rate(self) -> int:
        return int(self.params["sample_rate"])

    @property
    def backend(self) -> str:
        return self._runner.name

    def run_model(self, magnitude: np.ndarray) -> np.ndarray:
        """``[B, C, T, F]`` float32 mix magnitudes -> ``[B, N, C, T, F]`` instrument estimates."""
        return self._runner(magnitude)

    def separate(self, waveform: np.ndarray) -> Dict[str, np.ndarray]:
        """Separate ``(n_samples, n_channels)`` float32 audio at :attr:`sample_rate`.

        Returns ``{instrument: (n_samples, 2) float32}``.
        """
        stereo = to_stereo(waveform)
        outputs = {name: np.empty_like(stereo) for name in self.instruments}
        position = [0]

        def sink(blocks: Dict[str, np.ndarray]) -> None:
            length = next(iter(blocks.values())).shape[0]
            for name, block in blocks.items():
                outputs[name][position[0] : position[0] + length] = block
            position[0] += length

        self.separate_blocks(array_blocks(stereo), sink)
        return outputs

    def separate_blocks(
        self,
        blocks: Callable[[], Any],
        sink: Callable[[Dict[str, np.ndarray]], None],
        progress: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Streaming form of :meth:`separate` (bounded memory); see ``pipeline.separate_blocks``.

        ``blocks()`` must yield stereo ``(m, 2)`` float32 blocks at :attr:`sample_rate`.
        """
        return separate_blocks(
            self.chain,
            self.run_model,
            blocks,
            sink,
            n_channels=self.params["n_channels"],
            batch_size=self.batch_size,
            mwf=self.mwf,
            progress=progress,
        )


def load_model(params: Params, model_dir: Union[str, Path, None] = None):
    """The configured network with its weights (``model_dir``, or the provisioned pretrained)."""
    from ..pretrained.convert import load_weights
    from ..pretrained.provider import get_model_directory

    model = build_model(params)
    directory = Path(model_dir) if model_dir is not None else get_model_directory(params)
    load_weights(model, directory)
    model.eval()
    return model
