"""What evaluate() accepts from its caller and from a separator: bad arguments are refused with a
ValueError naming the parameter before any work; a separator's bad output for one song (a missing
stem, another length, NaN/Inf, not an array) fails that song, blamed on the separator, and the
other songs are scored; an object without evaluation_setting() is evaluated but never resumed."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import (
    OracleSeparator,
    evaluate,
    folder_tracks,
    format_table,
    load_separator,
    resolve_model,
)


@pytest.fixture(scope="module")
def tracks(musdb_hq):
    return folder_tracks(musdb_hq, ["test"])


class Plain:
    """Only what the README promises: ``instruments``, ``sample_rate``, ``separate(waveform)``
    (the true stems through ideal ratio masks, from an oracle it wraps)."""

    def __init__(self, tracks, fault=None):
        self._oracle = OracleSeparator(tracks, ratio_mask=True)
        self.instruments = ["vocals", "accompaniment"]
        self.sample_rate = self._oracle.sample_rate
        self.fault = fault
        self.calls = 0

    def separate(self, waveform):
        self.calls += 1
        stems = self._oracle.separate(waveform)
        # The second song gets the fault; the first is separated right.
        return self.fault(stems) if self.fault and self.calls == 2 else stems


class Described(Plain):
    def evaluation_setting(self):
        return {"kind": "test", "fault": getattr(self.fault, "__name__", None)}


def _run(separator, tracks, out, **keywords):
    keywords = {"n_workers": 0, "progress": False, "check_stability": False, **keywords}
    return evaluate(separator, tracks, out, **keywords)


def _missing(stems):
    return {"vocals": stems["vocals"]}


def _short(stems):
    return {name: stem[:10] for name, stem in stems.items()}


def _nan(stems):
    vocals = stems["vocals"].copy()
    vocals[44100, 1] = np.nan
    return {**stems, "vocals": vocals}


def _inf(stems):
    return {**stems, "accompaniment": stems["accompaniment"] + np.inf}


def _transposed(stems):
    return {name: stem.T for name, stem in stems.items()}


def _strings(stems):
    return {name: "audio" for name in stems}


def _not_a_dict(stems):
    return list(stems.values())


def _raises(stems):
    raise RuntimeError("model exploded")


FAULTS = {
    _missing: "separator Described returned no estimate for accompaniment (it returned vocals;",
    _short: "separator Described returned 10 samples for vocals, the mixture has 88200;",
    _nan: "separator Described returned NaN or infinite values for vocals (first at 1.000 s)",
    _inf: "separator Described returned NaN or infinite values for accompaniment (first at 0.000",
    _transposed: "separator Described returned vocals of shape (2, 88200); expected (88200, 2)",
    _strings: "separator Described returned vocals as str",
    _not_a_dict: "separator Described returned list, not a dict of estimates",
    _raises: "separator Described failed (RuntimeError: model exploded)",
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=lambda f: f.__name__.strip("_"))
def test_bad_estimates_fail_their_song_blamed_on_the_separator(tracks, fault, tmp_path, caplog):
    first, second = tracks
    with caplog.at_level(logging.ERROR, logger="spleeter_paddle"):
        result = _run(Described(tracks, fault), tracks, tmp_path / "out")
    assert result.evaluated == [first.key]
    assert list(result.failed) == [second.key]
    assert result.failed[second.key].startswith(FAULTS[fault]), result.failed[second.key]
    assert "mixture has 10 samples" not in result.failed[second.key]  # never the data's fault
    (line,) = [x for x in caplog.text.splitlines() if f"ERROR {second.key}: separator" in x]
    assert result.summary["songs"] == [first.key]
    assert result.summary["failed"] == result.failed
    assert not (tmp_path / "out" / "metrics" / "test" / f"{second.name}.json").exists()
    assert f"song {second.key}: FAILED" in format_table(result.summary)


def test_a_mono_estimate_is_used_on_both_channels_like_a_mono_reference(tracks, tmp_path):
    def mono(stems):
        return {name: stem[:, 0] for name, stem in stems.items()}

    result = _run(Described(tracks, mono), tracks, tmp_path / "out")
    assert result.evaluated == [t.key for t in tracks] and not result.failed


def test_an_object_with_only_the_promised_attributes_is_evaluated_but_never_resumed(
    tracks, tmp_path
):
    out = tmp_path / "out"
    result = _run(Plain(tracks), tracks, out)
    assert result.evaluated == [t.key for t in tracks] and not result.failed
    setting = result.summary["run"]["setting"]["separator"]
    assert setting["kind"] == "undescribed"
    assert setting["class"].endswith("test_separator_contract.Plain")
    again = Plain(tracks)
    with pytest.raises(
        DataError, match=r"cannot tell what defines its output .* cannot be resumed"
    ):
        _run(again, tracks, out)
    assert again.calls == 0  # refused before separating anything
    # A described separator does not take the undescribed scores as its own either.
    with pytest.raises(DataError, match=r"made with another setting \(separator\.class"):
        _run(Described(tracks), tracks, out)
    assert _run(Plain(tracks), tracks, out, overwrite=True).evaluated == [t.key for t in tracks]
    # Two undescribed runs never share a key.
    assert (
        _run(Plain(tracks), tracks, tmp_path / "b").summary["run"]["setting"]
        != (result.summary["run"]["setting"])
    )


class Empty:
    pass


def _named_by_a_str(tracks):
    separator = Plain(tracks)
    separator.instruments = "vocals"
    return separator


def _bad_arguments(tracks, tmp_path):
    good = Described(tracks)
    out = tmp_path / "out"
    return {
        "separator None": (lambda: evaluate(None, tracks, out), "separator must have"),
        "separator without separate": (lambda: evaluate(Empty(), tracks, out), "separator must"),
        "instruments a str": (
            lambda: evaluate(_named_by_a_str(tracks), tracks, out),
            "separator must have 'instruments'",
        ),
        "output_dir None": (lambda: evaluate(good, tracks, None), "output_dir must be"),
        "tracks a path": (lambda: evaluate(good, str(out), out), "tracks must be a list"),
        "tracks of str": (lambda: evaluate(good, ["a"], out), "tracks must hold Track"),
        "n_workers text": (lambda: evaluate(good, tracks, out, n_workers="2"), "n_workers must"),
        "n_workers -1": (lambda: evaluate(good, tracks, out, n_workers=-1), "n_workers must"),
        "overwrite text": (
            lambda: evaluate(good, tracks, out, overwrite="False"),
            "overwrite must be True or False",
        ),
        "win_s 0": (lambda: evaluate(good, tracks, out, win_s=0), "win_s must be"),
        "hop_s nan": (lambda: evaluate(good, tracks, out, hop_s=float("nan")), "hop_s must be"),
        "metrics": (lambda: evaluate(good, tracks, out, metrics="fastest"), "metrics must be one"),
        "model": (lambda: evaluate(good, tracks, out, model=None), "model must be a str"),
        "setting": (lambda: evaluate(good, tracks, out, setting="x"), "setting must be a dict"),
        "load_separator(None)": (lambda: load_separator(None), "descriptor must be"),
        "resolve_model(5)": (lambda: resolve_model(5), "descriptor must be"),
        "format_table({})": (lambda: format_table({}), "summary must be an evaluation summary"),
        "format_table(None)": (lambda: format_table(None), "summary must be an evaluation"),
    }


def test_bad_arguments_are_refused_naming_the_parameter_before_any_work(tracks, tmp_path):
    for label, (call, message) in _bad_arguments(tracks, tmp_path).items():
        with pytest.raises(ValueError) as raised:
            call()
        assert message in str(raised.value), (label, str(raised.value))
    assert not (tmp_path / "out").exists()
