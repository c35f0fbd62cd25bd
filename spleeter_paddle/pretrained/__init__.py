"""Pretrained weights: TF checkpoint reader, TF -> Paddle conversion, weight files, model provider.

``load_pretrained_model(load_configuration("spleeter:2stems"))`` returns the ready model; the
weights are fetched and converted on first use into ``$MODEL_PATH/2stems`` (default ``model/``).
"""

from .checksums import crc32c, masked_crc32c
from .convert import (
    METADATA_FILE,
    WEIGHTS_FILE,
    convert_checkpoint,
    load_weights,
    read_metadata,
    read_weights,
    save_weights,
    tf_variable_map,
)
from .provider import (
    get_model_directory,
    import_model,
    is_complete,
    load_pretrained_model,
    resolve_model_home,
)
from .tf_checkpoint import TFCheckpoint, find_checkpoint_prefix

__all__ = [
    "METADATA_FILE",
    "WEIGHTS_FILE",
    "TFCheckpoint",
    "convert_checkpoint",
    "crc32c",
    "find_checkpoint_prefix",
    "get_model_directory",
    "import_model",
    "is_complete",
    "load_pretrained_model",
    "load_weights",
    "masked_crc32c",
    "read_metadata",
    "read_weights",
    "resolve_model_home",
    "save_weights",
    "tf_variable_map",
]
