"""Stored scores are keyed on what made them: resume only with the same setting, else refuse."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import OracleSeparator, evaluate, folder_tracks, json_path
from spleeter_paddle.evaluation.setting import separator_setting

SWAP = {"vocals": "accompaniment", "accompaniment": "vocals"}


@pytest.fixture(scope="module")
def tracks(musdb_hq):
    return folder_tracks(musdb_hq, ["test"])


@pytest.fixture
def scored(tracks, tmp_path):
    """An output folder scored by the ideal-ratio-mask oracle, and the files' contents."""
    out = tmp_path / "out"
    evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0, model="irm",
             progress=False)  # fmt: skip
    return out, {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def _unchanged(out, before):
    return {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()} == before


def test_scores_of_another_separator_are_refused_never_relabelled(tracks, scored):
    out, before = scored
    swapped = OracleSeparator(tracks, sources=SWAP, ratio_mask=True)
    with pytest.raises(DataError) as refused:
        evaluate(swapped, tracks, out, n_workers=0, model="swap", progress=False)
    message = str(refused.value)
    assert (
        "another setting (separator.sources.accompaniment, separator.sources.vocals differ)"
        in message
    )
    assert "(and 1 more songs)" in message and "--overwrite" in message and "\n" not in message
    assert _unchanged(out, before), "a refused run must not touch the folder"
    redone = evaluate(swapped, tracks, out, n_workers=0, model="swap", overwrite=True,
                      progress=False)  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["model"] == "swap" and redone.resumed == []
    assert summary["targets"]["vocals"]["SDR"]["median"] < 0  # the swap's scores, not the IRM's
    again = evaluate(swapped, tracks, out, n_workers=0, model="swap", progress=False)
    assert again.resumed == [t.key for t in tracks] and again.evaluated == []


def test_old_results_without_a_setting_record_are_refused(tracks, scored):
    out, _ = scored
    path = json_path(out, tracks[0])
    document = json.loads(path.read_text())
    del document["spleeter_paddle"]["setting"]
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=r"no record of the model and options that made"):
        evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0,
                 progress=False)  # fmt: skip


def test_metric_settings_are_part_of_the_key(tracks, scored):
    out, before = scored
    with pytest.raises(DataError, match=r"metrics.hop_s, metrics.win_s differ"):
        evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0,
                 win_s=0.5, hop_s=0.5, progress=False)  # fmt: skip
    assert _unchanged(out, before)


def test_scores_of_the_previous_scorer_are_refused(tracks, scored):
    """Scores stored before the scorer reproduced museval on ill-conditioned references (and
    before the one-LSB stability check) hold no ``metrics.revision``: never resumed as current."""
    out, _ = scored
    for track in tracks:
        path = json_path(out, track)
        document = json.loads(path.read_text())
        metrics = document["spleeter_paddle"]["setting"]["metrics"]
        del metrics["revision"]
        metrics["stability"] = {"noise_relative": 1e-6, "max_windows": 8, "threshold_db": 0.1,
                                "seed": 20180601}  # fmt: skip
        path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=r"metrics.revision, metrics.stability.max_windows"):
        evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0,
                 progress=False)  # fmt: skip


def test_same_song_names_from_other_data_are_refused(tracks, scored, musdb_hq, tmp_path):
    out, before = scored
    other = tmp_path / "other"
    shutil.copytree(musdb_hq / "test", other / "test")
    song = other / "test" / tracks[0].name
    vocals, rate = sf.read(song / "vocals.wav")
    sf.write(song / "vocals.wav", 0.5 * vocals, rate, subtype="PCM_16")
    other_tracks = folder_tracks(other, ["test"])
    with pytest.raises(DataError, match=r"data files\.mixture, data files\.other"):
        evaluate(OracleSeparator(other_tracks, ratio_mask=True), other_tracks, out,
                 n_workers=0, progress=False)  # fmt: skip
    assert _unchanged(out, before)


def test_spleeter_key_holds_weights_digest_mwf_and_segment_frames(official_separator):
    import paddle

    setting = separator_setting(official_separator)
    assert setting["segment_frames"] == 512 and setting["mwf"] is False
    assert setting["config"]["instrument_list"] == ["vocals", "accompaniment"]
    assert "train_csv" not in setting["config"] and "T" not in setting["config"]
    assert len(setting["weights_sha256"]) == 64
    assert separator_setting(official_separator) == setting  # deterministic
    name, parameter = next(iter(official_separator.model.named_parameters()))
    original = parameter.numpy().copy()
    try:
        changed = original.copy()
        changed.flat[0] += 1e-3
        parameter.set_value(paddle.to_tensor(changed))
        assert separator_setting(official_separator)["weights_sha256"] != setting["weights_sha256"]
    finally:
        parameter.set_value(paddle.to_tensor(original))
    assert separator_setting(official_separator)["weights_sha256"] == setting["weights_sha256"]
    np.testing.assert_array_equal(parameter.numpy(), original)


def test_a_reference_changed_in_content_only_is_refused_not_resumed(musdb_hq, tmp_path):
    """Same path, same size, same modification time: only the bytes differ."""
    data = tmp_path / "data"
    shutil.copytree(musdb_hq / "test", data / "test")
    tracks = folder_tracks(data, ["test"])
    out = tmp_path / "out"
    evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0, progress=False)
    before = {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    vocals = data / "test" / tracks[0].name / "vocals.wav"
    status = vocals.stat()
    audio, rate = sf.read(vocals, dtype="int16")
    sf.write(vocals, audio[::-1] // 2, rate, subtype="PCM_16")
    os.utime(vocals, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert vocals.stat().st_size == status.st_size
    with pytest.raises(DataError, match=r"another setting \(data files\.vocals differ\)"):
        evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, out, n_workers=0,
                 progress=False)  # fmt: skip
    assert _unchanged(out, before)
    stored = json.loads(json_path(out, tracks[0]).read_text())["spleeter_paddle"]["source"]
    path, size, digest = stored["files"]["vocals"]
    assert size == status.st_size and len(digest) == 64
