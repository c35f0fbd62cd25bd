"""The word lists flags and library share: devices, backends, codecs, bit depths, presets, ``-lm``.

A leaf module (imports nothing): argparse ``choices`` and the library's checks read the same tuples.
"""

DEVICES = ("auto", "cpu", "gpu", "sdaa")
PADDLE_BACKENDS = ("auto", "predictor", "eager")  # need nothing beyond Paddle
BACKENDS = (*PADDLE_BACKENDS, "onnxruntime", "openvino")
CODECS = ("wav", "mp3", "ogg", "m4a", "wma", "flac")  # Spleeter's Codec enum
# Spleeter 2.1-2.3's STFTBackend (one exact STFT here)
STFT_BACKENDS = ("auto", "tensorflow", "librosa")
BIT_DEPTHS = ("PCM_16", "PCM_24", "FLOAT")  # soundfile subtypes of wav/flac
PRESET_PREFIX = "spleeter:"  # -p spleeter:<preset>
PRETRAINED_PRESETS = ("2stems", "4stems", "5stems")  # the official release's models
PRESETS = (*PRETRAINED_PRESETS, *(f"{name}-16kHz" for name in PRETRAINED_PRESETS), "musdb")
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")  # booleans of the seed's flags (-lm, -amp)
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "none")
LOAD_MODEL_PRETRAINED = (*TRUE_WORDS, "pretrained")  # -lm words for the official weights
LOAD_MODEL_SCRATCH = FALSE_WORDS  # -lm words for no initial weights
LOAD_MODEL_LATEST = "latest"
AUGMENTATIONS = ("gain", "swap", "remix")  # training data augmentations (-aug)
MUSDB_SUBSETS = ("train", "test")  # MUSDB18's two folders
METRICS_IMPLEMENTATIONS = ("fast", "museval")  # BSSEval v4: ours (1e-3 dB of museval) or museval's
