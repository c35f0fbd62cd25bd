"""Option values parsed and checked once (only errors and vocab below): each check takes a flag's
text or a library value and returns it converted, or raises ValueError("must be ..., got ...");
the caller adds the subject (argparse the flag, the library the parameter name)."""

from __future__ import annotations

import math
import os
import re
from functools import partial
from typing import Any, Callable, Optional, Sequence, Tuple, Union

from .errors import ConfigurationError
from .vocab import FALSE_WORDS, LOAD_MODEL_LATEST, PRESET_PREFIX, PRESETS, TRUE_WORDS

MAX_SECONDS = 1e9  # offsets and durations (31 years)
MAX_BATCH_SIZE = 64
MAX_SEGMENT_FRAMES = 8192
MAX_LOADER_WORKERS = 64
MAX_PROCESSES_PER_NODE = 1024
MAX_PORT = 65535
MAX_RANDOM_SEED = 2**32 - 1  # NumPy's seed range
# A network wait or a whole transfer: at least 0.1 s (a shorter read timeout fails on any real
# network), at most a day; a transfer rate: at most 100 GB/s, beyond any link.
MIN_NETWORK_SECONDS, MAX_NETWORK_SECONDS = 0.1, 86_400.0
MAX_BYTE_RATE = 1e11
# A separated or loaded excerpt: at least 10 ms (a few hundred samples, shorter than any model's
# STFT frame at 44.1 kHz: 4096 samples are 93 ms); less is a typing slip, not a request.
MIN_DURATION_SECONDS = 0.01
# What OMP_NUM_THREADS may ask for: no machine runs more threads usefully.
MAX_THREADS = 4096
# Plausibility bounds, from what Spleeter's models can use: telephone audio (8 kHz) to the
# highest studio rate (384 kHz); an STFT frame of at most 64 Ki samples (Spleeter: 4096);
# at most 16 stems (Spleeter: 5); a training chunk of at most 10 minutes, 1000 per song.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 384_000
MIN_FRAME_LENGTH, MAX_FRAME_LENGTH = 64, 65_536
MAX_INSTRUMENTS = 16
MAX_CHUNK_SECONDS = 600.0
MAX_CHUNKS_PER_SONG = 1_000
MAX_TRAINING_BATCH = 4_096
_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def whole_number(value: Any, minimum: Optional[int] = 1, maximum: Optional[int] = None) -> int:
    """An integer in ``[minimum, maximum]`` (None: unbounded); ``"2"`` and ``2`` pass, ``2.0``,
    ``True`` and ``"2.5"`` do not."""
    try:
        number = int(str(value).strip())
    except ValueError:
        if maximum is not None:
            span = f"a whole number from {minimum} to {maximum}"
        elif minimum is None:
            span = "a whole number"
        else:
            span = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise ValueError(f"must be {span}, got {value!r}") from None
    if minimum is not None and number < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"must be {bound}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"must be at most {maximum}, got {value!r}")
    return number


def number(
    value: Any,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    *,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """A finite float in the interval the bounds give (open ends with ``exclusive_*``)."""
    try:
        converted = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        converted = math.nan
    low = converted < minimum or (exclusive_minimum and converted == minimum)
    high = converted > maximum or (exclusive_maximum and converted == maximum)
    if math.isfinite(converted) and not low and not high:
        return converted + 0.0  # -0.0 -> 0.0
    span = _interval(minimum, maximum, exclusive_minimum, exclusive_maximum)
    if not math.isfinite(converted):
        span = f"a finite number {span}".rstrip()
    raise ValueError(f"must be {span}, got {value!r}")


def _interval(minimum: float, maximum: float, open_low: bool, open_high: bool) -> str:
    """``> 0``, ``<= 1``, ``in (0, 1]`` or "" (unbounded)."""
    if math.isinf(minimum) and math.isinf(maximum):
        return ""
    if math.isinf(maximum):
        return f"{'>' if open_low else '>='} {minimum:g}"
    if math.isinf(minimum):
        return f"{'<' if open_high else '<='} {maximum:g}"
    return f"in {'(' if open_low else '['}{minimum:g}, {maximum:g}{')' if open_high else ']'}"


# The bounded checks: each flag's (or configuration key's) range, as one of the two checks above.
positive_number = partial(number, minimum=0.0, exclusive_minimum=True)  # -lr, -cd, --max-upload-mb
offset_seconds = partial(number, minimum=0.0, maximum=MAX_SECONDS)  # -s
duration_seconds = partial(number, minimum=MIN_DURATION_SECONDS, maximum=MAX_SECONDS)  # -d
fraction = partial(number, minimum=0.0, maximum=1.0, exclusive_minimum=True)  # evaluate --fraction
# preprocess --validation-fraction: 0 (no validation split) or a share below 1
validation_fraction = partial(number, minimum=0.0, maximum=1.0, exclusive_maximum=True)
batch_size = partial(whole_number, minimum=1, maximum=MAX_BATCH_SIZE)  # separate --batch-size
segment_frames = partial(whole_number, minimum=1, maximum=MAX_SEGMENT_FRAMES)  # --segment-frames
frame_length = partial(whole_number, minimum=MIN_FRAME_LENGTH, maximum=MAX_FRAME_LENGTH)
chunk_seconds = partial(number, minimum=0.0, maximum=MAX_CHUNK_SECONDS, exclusive_minimum=True)
chunks_per_song = partial(whole_number, minimum=1, maximum=MAX_CHUNKS_PER_SONG)  # -ncps
training_batch = partial(whole_number, minimum=1, maximum=MAX_TRAINING_BATCH)  # training's -bs
port = partial(whole_number, minimum=1, maximum=MAX_PORT)  # serve --port, train --master
random_seed = partial(whole_number, minimum=0, maximum=MAX_RANDOM_SEED)  # --seed, random_seed
# SPLEETER_PADDLE_TIMEOUT and _DOWNLOAD_DEADLINE; _DOWNLOAD_MIN_RATE (bytes/s, 0: no minimum)
network_seconds = partial(number, minimum=MIN_NETWORK_SECONDS, maximum=MAX_NETWORK_SECONDS)
byte_rate = partial(number, minimum=0.0, maximum=MAX_BYTE_RATE)
thread_count = partial(whole_number, minimum=1, maximum=MAX_THREADS)  # OMP_NUM_THREADS


def sample_rate_hz(value: Any) -> int:
    """A sample rate: a whole number of Hz (``44100``, ``"44100"`` or ``44100.0``), 8 to 384 kHz."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return whole_number(value, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)


def seconds_span(
    offset: Any, duration: Any, error: type = ValueError
) -> Tuple[float, Optional[float]]:
    """``-s``/``-d``: ``(offset, duration)`` in seconds (duration None: to the end)."""
    offset = checked("offset", offset_seconds, offset, error=error)
    if duration is not None:
        duration = checked("duration", duration_seconds, duration, error=error)
    return offset, duration


def bitrate_text(value: Any) -> str:
    """``-b``: ``128k``, ``1.5M`` or bits per second, 8 kbit/s to 2 Mbit/s."""
    match = _BITRATE.match(str(value).strip())
    scale = {"": 1e-3, "k": 1.0, "m": 1e3}[(match.group(2) if match else "").lower()]
    if match is None or not 8 <= float(match.group(1)) * scale <= 2000:
        raise ValueError(f"must look like 128k (8k to 2000k), got {value!r}")
    return str(value).strip()


def choice(value: Any, allowed: Sequence[str]) -> str:
    """One of the words ``allowed`` (a codec, a device, a backend, ...), exactly as written."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def truth_value(value: Union[str, bool]) -> bool:
    """``-amp``, ``--dropout``, ...: True/False in any case, yes/no, 1/0, on/off (or a bool)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be True or False (yes/no, 1/0), got {value!r}")


def load_model_choice(value: str) -> Union[bool, str]:
    """``-lm``: True (official pretrained), False (scratch), ``latest`` or a model directory."""
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return LOAD_MODEL_LATEST if word == LOAD_MODEL_LATEST else value


def name_list(value: Any, names: Sequence[str]) -> Tuple[str, ...]:
    """``train --augment``: a comma list of ``names`` (``""``: none); no empty item, no repeat."""
    text = str(value).strip()
    items = tuple(item.strip() for item in text.split(",")) if text else ()
    unknown = [item for item in items if item not in names]
    if unknown or len(set(items)) != len(items):
        problem = f"unknown {unknown[0]!r}" if unknown else "a name given twice"
        if "" in unknown:
            problem = "an empty item"
        raise ValueError(f"must be a comma list of {', '.join(names)} ({problem}), got {value!r}")
    return items


def card_ids(value: Any) -> str:
    """``train --devices``: a comma list of distinct card indices (``0,1,2,3``)."""
    items = [item.strip() for item in str(value).split(",")]
    if not all(item.isdigit() for item in items) or len(set(map(int, items))) != len(items):
        raise ValueError(
            f"must be a comma list of distinct card numbers such as 0,1, got {value!r}"
        )
    return ",".join(items)


def node_count(value: Any) -> str:
    """``train --nnodes``: a number of nodes, or an elastic range ``min:max``."""
    parts = str(value).strip().split(":")
    try:
        counts = [whole_number(part) for part in parts]
    except ValueError:
        counts = []
    if len(parts) > 2 or len(counts) != len(parts) or counts != sorted(counts):
        raise ValueError(f"must be a number of nodes such as 2 (or a range 2:4), got {value!r}")
    return ":".join(str(count) for count in counts)


def endpoint(value: Any) -> str:
    """``train --master``: ``host:port`` (``etcd://host:port`` too), port 1 to 65535."""
    text = str(value).strip()
    host, _, number = text.removeprefix("etcd://").rpartition(":")
    try:
        port(number)
    except ValueError:
        host = ""
    if not host or any(char.isspace() or char == "," for char in host):
        raise ValueError(f"must be host:port such as 10.0.0.1:8090, got {value!r}")
    return text


def host_list(value: Any) -> str:
    """``train --ips``: a comma list of node addresses, none empty or repeated."""
    items = [item.strip() for item in str(value).split(",")]
    if not all(items) or len(set(items)) != len(items) or any(" " in item for item in items):
        raise ValueError(
            f"must be a comma list of node addresses such as 10.0.0.1,10.0.0.2, got {value!r}"
        )
    return ",".join(items)


def strict_bool(value: Any) -> bool:
    """A library switch (``overwrite``, ``mwf``): only ``True`` or ``False`` (the text "False" is
    truthy in Python)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # NumPy's bool too
        return bool(value)
    raise ValueError(f"must be True or False (a bool), got {value!r}")


def path_value(value: Any, what: str = "a path") -> str:
    """A file or folder path (``what`` in the message): ``str`` or ``os.PathLike``, not empty,
    no NUL byte."""
    try:
        text = os.fspath(value)
    except TypeError:
        text = None
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValueError(f"must be {what} (str or os.PathLike), got {value!r}")
    return text


def cpu_threads() -> int:
    """Threads this process may use: ``OMP_NUM_THREADS`` (the user's, or a launched worker's
    share of the cores), else every core; a bad value is a ConfigurationError (a usage error)."""
    return environment_value("OMP_NUM_THREADS", thread_count, 0) or os.cpu_count() or 1


def folder_name(value: Any) -> str:
    """A name that becomes one folder (``models import -n``): not a path, printable (a newline
    would forge log lines), without blanks around it, at most 255 bytes."""
    name = str(value)
    if name in ("", ".", "..") or os.path.basename(name) != name or "\\" in name:
        raise ValueError(f"must be a plain folder name (like 2stems), not a path, got {value!r}")
    if not name.isprintable() or name != name.strip() or len(os.fsencode(name)) > 255:
        raise ValueError(
            "must be printable, without blanks around it and at most 255 bytes (like 2stems), "
            f"got {value!r}"
        )
    return name


def configuration_name(value: Any) -> str:
    """``-p``: ``spleeter:<preset>`` naming a preset, or anything else (read where used)."""
    text = str(value)
    if text.startswith(PRESET_PREFIX) and text[len(PRESET_PREFIX) :] not in PRESETS:
        choices = ", ".join(PRESET_PREFIX + preset for preset in PRESETS)
        raise ValueError(f"{text}: unknown preset; choose one of {choices}")
    return text


def environment_value(name: str, check: Callable[[Any], Any], default: Any) -> Any:
    """The environment variable ``name`` through ``check`` (``default`` when unset or empty); a
    bad value is a ConfigurationError (a usage error) naming the variable."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    return checked(
        name, check, text, error=lambda message: ConfigurationError(f"environment: {message}")
    )


def checked(
    name: str, check: Callable[..., Any], value: Any, *args: Any, error: type = ValueError
) -> Any:
    """``check(value, *args)``; its ValueError, prefixed with ``name``, is raised as ``error``."""
    try:
        return check(value, *args)
    except ValueError as problem:
        raise error(f"{name} {problem}") from None
