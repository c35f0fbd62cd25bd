"""museval (BSSEval v4) evaluation: songs, sampling, worker-pool metrics, aggregation, reports.

>>> from spleeter_paddle.evaluation import evaluate, folder_tracks, sample_tracks
>>> tracks = sample_tracks(folder_tracks("dataset"), fraction=0.1, seed=123456)
>>> result = evaluate(separator, tracks, "evaluation", n_workers=4)
>>> print(format_table(result.summary))
"""

from .aggregate import song_scores, summarize, target_summary
from .evaluator import Evaluation, evaluate, json_path
from .metrics import METRICS, MetricsPool, score_track, target_groups
from .models import load_separator, model_settings, resolve_model
from .musdb_source import MusdbTrack, folder_tracks, musdb_tracks
from .oracle import OracleSeparator
from .report import format_table
from .sampling import sample_tracks
from .tracks import FolderTrack, Track

__all__ = [
    "METRICS",
    "Evaluation",
    "FolderTrack",
    "MetricsPool",
    "MusdbTrack",
    "OracleSeparator",
    "Track",
    "evaluate",
    "folder_tracks",
    "format_table",
    "json_path",
    "load_separator",
    "model_settings",
    "musdb_tracks",
    "resolve_model",
    "sample_tracks",
    "score_track",
    "song_scores",
    "summarize",
    "target_groups",
    "target_summary",
]
