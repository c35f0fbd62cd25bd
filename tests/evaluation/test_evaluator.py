"""End to end on generated songs with oracle separators: numbers, workers, museval, resume."""

from __future__ import annotations

import json
import math
import shutil

import museval
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import (
    OracleSeparator,
    evaluate,
    folder_tracks,
    format_table,
    json_path,
    musdb_tracks,
)
from spleeter_paddle.evaluation.report import write_text

SWAP = {"vocals": "accompaniment", "accompaniment": "vocals"}


@pytest.fixture(scope="module")
def tracks(musdb_hq):
    return folder_tracks(musdb_hq, ["test"])


@pytest.fixture(scope="module")
def masked_one_worker(tracks, tmp_path_factory):
    """Ideal-ratio-mask oracle (finite scores), one metrics worker process."""
    out = tmp_path_factory.mktemp("one_worker")
    return evaluate(
        OracleSeparator(tracks, ratio_mask=True),
        tracks,
        out,
        n_workers=1,
        model="irm",
        progress=False,
    )


def _median(result, target, metric="SDR"):
    return result.summary["targets"][target][metric]["median"]


def test_true_stems_give_infinite_sdr_reported_as_such(tracks, tmp_path):
    song = tracks[:1]
    result = evaluate(OracleSeparator(song), song, tmp_path, n_workers=0, progress=False)
    for target in ("vocals", "accompaniment"):
        sdr = result.summary["targets"][target]["SDR"]
        assert sdr["median"] == math.inf and sdr["frames"] == 0 and sdr["infinite_frames"] == 2
        assert _median(result, target, "SIR") > 40
    table = format_table(result.summary)
    assert "inf" in table and "frame(s) infinite (estimate equals reference)" in table
    assert (
        json.loads((tmp_path / "summary.json").read_text())["targets"]["vocals"]["SDR"]["median"]
        is None
    )


def test_swapped_stems_score_far_below_the_oracle(tracks, tmp_path, masked_one_worker):
    song = tracks[:1]
    swapped = evaluate(
        OracleSeparator(song, sources=SWAP), song, tmp_path, n_workers=0, progress=False
    )
    masked = masked_one_worker.songs
    masked = masked[(masked["track"] == song[0].name) & (masked["metric"] == "SDR")]
    masked = dict(zip(masked["target"], masked["score"]))
    assert masked["vocals"] > 10 and masked["accompaniment"] > 10
    assert _median(swapped, "vocals") < 0
    assert _median(swapped, "vocals") < masked["vocals"] - 15
    assert _median(swapped, "accompaniment") < masked["accompaniment"] - 15


def test_two_workers_give_the_same_numbers_as_one(tracks, tmp_path, masked_one_worker):
    two = evaluate(
        OracleSeparator(tracks, ratio_mask=True), tracks, tmp_path, n_workers=2, progress=False
    )
    one = masked_one_worker.songs
    assert len(one) == 2 * 2 * 4 and one["score"].notna().all()
    pd.testing.assert_frame_equal(two.songs.drop(columns="score"), one.drop(columns="score"))
    # Equal up to museval's 5-decimal storage (BLAS thread counts differ between the runs).
    np.testing.assert_allclose(two.songs["score"], one["score"], rtol=0, atol=2e-5)


def test_separation_of_the_next_song_overlaps_the_metrics_of_the_previous(
    masked_one_worker, tracks
):
    first, second = (
        json.loads(json_path(masked_one_worker.output_dir, t).read_text())["spleeter_paddle"]
        for t in tracks
    )
    assert second["separation_started_at"] < first["metrics_finished_at"]
    assert first["metrics_started_at"] >= first["separation_started_at"]


def test_aggregation_equals_museval_evalstore(masked_one_worker):
    out = masked_one_worker.output_dir
    for statistic in ("median", "mean"):
        store = museval.EvalStore(frames_agg="median", tracks_agg=statistic)
        store.add_eval_dir(str(out / "metrics"))
        expected = store.agg_frames_tracks_scores()
        assert len(expected) == 2 * 4
        for (target, metric), value in expected.items():
            ours = masked_one_worker.summary["targets"][target][metric][statistic]
            assert ours == pytest.approx(value, abs=1e-9), (target, metric, statistic)
    per_song = store.agg_frames_scores()
    songs = masked_one_worker.songs.set_index(["track", "target", "metric"])["score"]
    pd.testing.assert_series_equal(songs.sort_index(), per_song.sort_index(), check_names=False)


def test_outputs_are_written_completely(masked_one_worker, tracks):
    out = masked_one_worker.output_dir
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == [
        "subset",
        "track",
        "target",
        "metric",
        "score",
        "frames",
        "infinite_frames",
        "unstable",
        "windows_rescored",
        "windows_moved",
    ]
    assert len(csv) == 16 and set(csv["target"]) == {"vocals", "accompaniment"}
    # every window with a value was re-scored by the stability check
    assert (csv["windows_rescored"] == csv["frames"]).all()
    summary = json.loads(
        (out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(c)
    )
    assert summary["songs"] == [t.key for t in tracks] and summary["unscored"] == {}
    assert summary["seconds_per_song"]["total"]["songs"] == 2
    assert summary["run"]["workers"] == 1 and summary["run"]["evaluated"] == 2
    assert (out / "sdr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for track in tracks:
        document = json.loads(json_path(out, track).read_text())
        assert document["spleeter_paddle"]["model"] == "irm"
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


def test_second_run_skips_finished_songs_unless_overwrite(tracks, masked_one_worker, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(masked_one_worker.output_dir, out)
    first, second = (json_path(out, t) for t in tracks)
    stamp = first.stat().st_mtime_ns
    second.unlink()
    oracle = OracleSeparator(tracks, ratio_mask=True)
    resumed = evaluate(oracle, tracks, out, n_workers=0, model="irm", progress=False)
    assert resumed.evaluated == [tracks[1].key] and resumed.resumed == [tracks[0].key]
    assert first.stat().st_mtime_ns == stamp and second.is_file()
    np.testing.assert_allclose(resumed.songs["score"], masked_one_worker.songs["score"], atol=2e-5)
    redone = evaluate(oracle, tracks[:1], out, n_workers=0, overwrite=True, progress=False)
    assert redone.evaluated == [tracks[0].key] and first.stat().st_mtime_ns != stamp


def test_five_stems_score_the_targets_with_references_and_name_piano(musdb_hq, tmp_path):
    track = musdb_tracks(musdb_hq, ["test"], is_wav=True)[:1]
    instruments = ["vocals", "piano", "drums", "bass", "other"]
    result = evaluate(
        OracleSeparator(track, instruments, ratio_mask=True),
        track,
        tmp_path,
        n_workers=0,
        progress=False,
    )
    document = json.loads(json_path(tmp_path, track[0]).read_text())
    # 4 stems: exactly the four sources go to museval, no accompaniment; piano has no reference.
    assert [t["name"] for t in document["targets"]] == ["vocals", "drums", "bass", "other"]
    assert result.summary["unscored"] == {"piano": "no reference in the dataset"}
    assert "piano: not scored (no reference in the dataset)" in format_table(result.summary)
    assert all(math.isfinite(_median(result, t)) for t in ("vocals", "drums", "bass", "other"))


def test_model_with_one_referenced_target_is_refused_before_separating(seed_layout, tmp_path):
    tracks = folder_tracks(seed_layout)
    separator = OracleSeparator(tracks, ["vocals", "drums", "bass", "other"])
    with pytest.raises(
        DataError,
        match=r"references for vocals of the model's vocals, drums, bass, other; museval needs at least two",
    ):
        evaluate(separator, tracks, tmp_path, n_workers=0, progress=False)
    assert not list(tmp_path.iterdir())


def test_unwritable_output_is_one_line_naming_it(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=r"file/x.json: cannot write"):
        write_text(tmp_path / "file" / "x.json", "{}")


def test_song_with_a_silent_reference_is_skipped_and_named(seed_layout, tmp_path):
    dataset = tmp_path / "dataset"
    shutil.copytree(seed_layout, dataset)
    silent_song = sorted(dataset.iterdir())[1]
    sf.write(silent_song / "vocal.wav", np.zeros((88200, 2)), 44100, subtype="PCM_16")
    tracks = folder_tracks(dataset)
    result = evaluate(
        OracleSeparator(tracks, ratio_mask=True),
        tracks,
        tmp_path / "out",
        n_workers=0,
        progress=False,
    )
    reason = "silent vocals reference (museval needs non-silent references)"
    assert result.skipped == {tracks[1].key: reason} and result.evaluated == [tracks[0].key]
    assert result.summary["songs"] == [tracks[0].key] and set(result.songs["track"]) == {
        tracks[0].name
    }
    assert f"song {tracks[1].key}: not scored ({reason})" in format_table(result.summary)
    assert not json_path(tmp_path / "out", tracks[1]).exists()
