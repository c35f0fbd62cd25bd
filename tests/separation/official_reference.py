"""The official Spleeter 2.4.2 reference outputs in ``tests/fixtures/official/`` (see its README).

:func:`load_reference` gives the arrays the exactness tests compare against.
``python tests/separation/official_reference.py SOURCE_DIR`` made those files: it reads
``2stems.npz``, ``2stems-16kHz.npz`` and ``2stems-mwf.npz`` as Spleeter's run wrote them and
writes ``song.npz`` (the mix once, as the int16 samples it is made of, plus where its zeros are
-0.0) and one ``<name>.npz`` per configuration (each float32 array as its four byte planes, which
deflate better). It then decodes everything and checks that every array is bit-identical to its
source: nothing is rounded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"
CONFIGURATIONS = ("2stems", "2stems-16kHz", "2stems-mwf")
FULL_SCALE = 32768


def encode_float32(array: np.ndarray) -> np.ndarray:
    """``(4, *shape)`` uint8: byte plane b holds byte b of every little-endian float32."""
    data = np.ascontiguousarray(array, dtype="<f4")
    return np.ascontiguousarray(np.moveaxis(data.view(np.uint8).reshape(*data.shape, 4), -1, 0))


def decode_float32(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_float32`: the float32 array, bit for bit."""
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1)).view("<f4")[..., 0]


def load_reference(name: str, folder: Path = FIXTURES) -> Dict[str, np.ndarray]:
    """Arrays of one configuration as in Spleeter's own file, ``mix`` included (float32)."""
    with np.load(folder / f"{name}.npz") as stored:
        arrays = {key: decode_float32(stored[key]) for key in stored.files}
    with np.load(folder / "song.npz") as song:
        mix = song["mix_int16"].astype(np.float32) / FULL_SCALE  # exact: 16-bit grid
        mix.reshape(-1)[song["negative_zeros"]] = -0.0
    arrays["mix"] = mix[: len(arrays["vocals"])]
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with Spleeter's three .npz files")
    args = parser.parse_args()
    sources = {name: dict(np.load(args.source / f"{name}.npz")) for name in CONFIGURATIONS}
    mix = sources["2stems"]["mix"]
    samples = mix.astype(np.float64) * FULL_SCALE
    assert np.array_equal(samples, np.round(samples)) and np.abs(samples).max() < FULL_SCALE
    negative_zeros = np.flatnonzero((mix == 0) & np.signbit(mix)).astype(np.int32)
    np.savez_compressed(
        FIXTURES / "song.npz", mix_int16=samples.astype(np.int16), negative_zeros=negative_zeros
    )
    for name, arrays in sources.items():
        assert np.array_equal(arrays["mix"], mix[: len(arrays["mix"])]), name
        encoded = {key: encode_float32(v) for key, v in arrays.items() if key != "mix"}
        np.savez_compressed(FIXTURES / f"{name}.npz", **encoded)
    for name, arrays in sources.items():
        decoded = load_reference(name)
        assert sorted(decoded) == sorted(arrays), name
        for key, value in arrays.items():
            assert decoded[key].dtype == value.dtype and decoded[key].shape == value.shape
            assert decoded[key].tobytes() == value.tobytes(), f"{name}:{key}"
    for path in sorted(FIXTURES.glob("*.npz")):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
