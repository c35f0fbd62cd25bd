"""Pretrained weights: TF checkpoint reader, TF -> Paddle conversion, the model store, the provider
(``load_pretrained_model(load_configuration("spleeter:2stems"))``: fetched on first use)."""

from .checksums import crc32c, masked_crc32c
from .convert import convert_checkpoint, tf_variable_map
from .provider import get_model_directory, import_model
from .store import (
    COMPLETION_MARKER,
    METADATA_FILE,
    WEIGHTS_FILE,
    find_latest_model,
    is_complete,
    load_weights,
    model_directory,
    read_metadata,
    read_weights,
    resolve_model_home,
    save_weights,
    write_model,
)
from .tf_checkpoint import TFCheckpoint, find_checkpoint_prefix
from .weights import load_pretrained_model

__all__ = [
    "COMPLETION_MARKER",
    "METADATA_FILE",
    "WEIGHTS_FILE",
    "TFCheckpoint",
    "convert_checkpoint",
    "crc32c",
    "find_checkpoint_prefix",
    "find_latest_model",
    "get_model_directory",
    "import_model",
    "is_complete",
    "load_pretrained_model",
    "load_weights",
    "masked_crc32c",
    "model_directory",
    "read_metadata",
    "read_weights",
    "resolve_model_home",
    "save_weights",
    "tf_variable_map",
    "write_model",
]
