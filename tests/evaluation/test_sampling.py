"""Seeded sampling of songs (the seed's eval.py scores a random tenth)."""

import pytest

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import sample_tracks
from spleeter_paddle.evaluation.sampling import sample_count


def test_a_tenth_at_least_one_song_in_original_order():
    songs = [f"song{i:03d}" for i in range(50)]
    chosen = sample_tracks(songs, 0.1, seed=123456)
    assert len(chosen) == 5 and chosen == sorted(chosen) and set(chosen) <= set(songs)
    assert sample_tracks(songs, 0.1, seed=123456) == chosen
    assert sample_tracks(songs, 0.1, seed=1) != chosen
    assert len(sample_tracks(songs[:3], 0.1, seed=0)) == 1
    assert sample_tracks(songs[:3], 1.0, seed=0) == songs[:3]


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_fraction_outside_zero_one_is_an_error(fraction):
    with pytest.raises(DataError, match="--fraction"):
        sample_count(10, fraction)
