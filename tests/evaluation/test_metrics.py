"""museval's target grouping, and one song scored directly."""

from __future__ import annotations

import math

import pytest

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import OracleSeparator, folder_tracks, score_track, target_groups
from spleeter_paddle.evaluation.metrics import EXTRA_KEY, parse_scores


def test_groups_follow_museval_eval_mus_track():
    assert target_groups(["accompaniment", "vocals"]) == [["vocals", "accompaniment"]]
    assert target_groups(["other", "vocals", "bass", "drums"]) == [
        ["vocals", "drums", "bass", "other"]
    ]
    assert target_groups(["vocals", "drums", "bass", "other", "accompaniment"]) == [
        ["vocals", "drums", "bass", "other"],
        ["vocals", "accompaniment"],
    ]
    with pytest.raises(DataError, match="at least two"):
        target_groups(["vocals"])


def test_true_stems_are_infinite_sdr_which_museval_stores_as_nan(musdb_hq):
    track = folder_tracks(musdb_hq, ["test"])[0]
    estimates = OracleSeparator([track]).separate(track.load_mixture())
    result = score_track(track, estimates, separation_s=0.5)
    scores = parse_scores(result.json_text, "result")
    assert [t["name"] for t in scores["targets"]] == ["vocals", "accompaniment"]
    vocals = scores["targets"][0]["frames"]
    assert [f["time"] for f in vocals] == [0, 1] and all(f["duration"] == 1 for f in vocals)
    assert all(math.isnan(f["metrics"]["SDR"]) for f in vocals)
    assert all(f["metrics"]["SIR"] > 100 for f in vocals)  # finite, limited by numerics
    extra = scores[EXTRA_KEY]
    assert (
        extra["infinite_frames"]["vocals"]["SDR"] == 2
        and extra["infinite_frames"]["vocals"]["SIR"] == 0
    )
    assert extra["separation_s"] == 0.5 and extra["metrics_s"] > 0
