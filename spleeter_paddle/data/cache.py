"""``process_data``: manifest songs -> Spleeter's chunked training magnitudes (its chunking; STFT
without padding, first F bins), stored per song as ``uint8`` dB or ``float16`` in the format of
``cache_files.py``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..audio.io import load, to_channels
from ..audio.spectrogram import stft
from ..environment import workers_starting
from ..errors import AudioError, ConfigurationError, DataError
from ..files import PathLike, is_within, write_atomic, write_problem
from ..ownership import write_text
from .cache_files import (
    cache_settings,
    check_cache_folder,
    entry_problem,
    file_fingerprint,
    held_cache,
    quantise,
    read_entry,
)
from .loader import worker_pool
from .manifest_csv import manifest_rows
from .sources import changed_source, fingerprint_sources, source_problem

logger = logging.getLogger(__name__)

CHUNK_MARGIN_S = 0.5


def chunk_starts(duration_s: float, chunk_duration_s: float, n_chunks: int) -> List[float]:
    """Spleeter's ``n_chunks`` chunk starts (seconds), in order: evenly spaced with 0.5 s
    margins, or the central chunk. A song shorter than a chunk repeats start 0 (as Spleeter does,
    so that every song weighs ``n_chunks`` samples per epoch)."""
    if n_chunks == 1:
        starts = [max(duration_s / 2 - chunk_duration_s / 2, 0.0)]
    else:
        span = duration_s - chunk_duration_s - 2 * CHUNK_MARGIN_S
        starts = [max(k * span / (n_chunks - 1) + CHUNK_MARGIN_S, 0.0) for k in range(n_chunks)]
    return [round(start, 6) for start in starts]


def _warn_repeated_chunks(durations_s: List[float], settings: Dict[str, Any]) -> None:
    """One warning, before any work, when chunks mostly repeat audio: more than half a chunk of
    overlap with the previous chunk of the song (``n_chunks_per_song`` too high for the songs)."""
    n_chunks, chunk_s = settings["n_chunks_per_song"], settings["chunk_duration"]
    songs = [chunk_starts(duration_s, chunk_s, n_chunks) for duration_s in durations_s]
    n_repeated = sum(b - a < chunk_s / 2 for starts in songs for a, b in zip(starts, starts[1:]))
    if n_repeated:
        logger.warning(
            "n_chunks_per_song = %d: %d of %d chunks overlap the previous chunk of their song by "
            "more than half (songs too short for %d chunks of %g s); they repeat the same audio, "
            "lower n_chunks_per_song (-ncps)",
            n_chunks, n_repeated, n_chunks * len(durations_s), n_chunks, chunk_s,
        )  # fmt: skip


def _song_id(name: str, paths: List[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "song"
    return f"{slug}-{hashlib.sha1(repr(paths).encode()).hexdigest()[:10]}"


def _chunk_magnitudes(paths: List[str], start_s: float, settings: Dict[str, Any]) -> np.ndarray:
    """``(I, C, n_frames, F)`` float32 magnitudes of one chunk of every instrument (mix first);
    a stem shorter than one STFT frame (but not empty) is zero-padded to one frame."""
    magnitudes = []
    for path in paths:
        waveform, _ = load(
            path,
            offset_s=start_s,
            duration_s=settings["chunk_duration"],
            sample_rate=settings["sample_rate"],
        )
        waveform = to_channels(np.asarray(waveform, dtype=np.float32), settings["n_channels"])
        if 0 < len(waveform) < settings["frame_length"]:
            waveform = np.pad(waveform, ((0, settings["frame_length"] - len(waveform)), (0, 0)))
        if len(waveform) == 0:
            return np.zeros((len(paths), settings["n_channels"], 0, settings["F"]), np.float32)
        spectrum = stft(waveform, settings["frame_length"], settings["frame_step"], pad=False)
        magnitudes.append(np.abs(spectrum[:, : settings["F"], :]).transpose(2, 0, 1))
    n_frames = min(m.shape[1] for m in magnitudes)  # harmonise: crop to the shortest stem
    return np.stack([m[:, :n_frames] for m in magnitudes])


def _encode(magnitudes: np.ndarray, dtype: str) -> Tuple[np.ndarray, Dict[str, Any]]:
    """A chunk's stored block and its decoding fields (uint8: per-instrument dB min/max)."""
    if dtype != "uint8":
        return magnitudes.astype(np.float16), {}
    blocks, db_min, db_max = zip(*map(quantise, magnitudes))
    return np.stack(blocks), {"db_min": list(db_min), "db_max": list(db_max)}


def _write_chunks(job: Dict[str, Any], path: Path, chunks: List[Dict], skipped: List[Dict]) -> None:
    """Write each distinct chunk start of the song once into ``path``; each configured chunk
    (Spleeter's K) is an entry of ``chunks``, or of ``skipped`` where it holds no audio."""
    settings = job["settings"]
    starts = chunk_starts(
        job["duration"], settings["chunk_duration"], settings["n_chunks_per_song"]
    )
    stored: Dict[float, Optional[Dict[str, Any]]] = {}
    offset = 0
    with open(path, "wb") as stream:
        for start_s in starts:
            if start_s not in stored:
                magnitudes = _chunk_magnitudes(job["paths"], start_s, settings)
                stored[start_s] = None
                if magnitudes.shape[2]:
                    block, fields = _encode(magnitudes, settings["dtype"])
                    stream.write(np.ascontiguousarray(block).tobytes())
                    stored[start_s] = {"start_s": start_s, "offset": offset, **fields}
                    stored[start_s]["n_frames"] = int(magnitudes.shape[2])
                    offset += block.size
            if stored[start_s] is None:
                skipped.append({"start_s": start_s, "reason": "no audio at this offset"})
            else:
                chunks.append(dict(stored[start_s]))
    if not chunks:
        raise DataError("no audio in any chunk")


def _cache_song(job: Dict[str, Any]) -> Dict[str, Any]:
    """Worker: compute and write one song; returns its entry or ``{"error": reason}``."""
    directory = Path(job["directory"])
    data_path = directory / f"{job['id']}.bin"
    chunks: List[Dict] = []
    skipped: List[Dict] = []
    try:
        sources = fingerprint_sources(job["paths"])  # before reading: a change meanwhile shows
        write_atomic(data_path, lambda path: _write_chunks(job, path, chunks, skipped), ".bin")
    except (AudioError, DataError, ValueError, OSError) as error:
        problem = write_problem(error) if isinstance(error, OSError) else None
        return {"song": job["song"], "error": f"{data_path}: {problem}" if problem else str(error)}
    entry = {"id": job["id"], "song": job["song"], "file": data_path.name, "key": job["key"]}
    entry.update(chunks=chunks, skipped_chunks=skipped, sources=sources)
    entry.update(file_fingerprint(data_path))
    write_text(directory / f"{job['id']}.json", json.dumps(entry))
    return entry


@dataclass
class CacheReport:
    """Songs computed now, reused from a previous run, rebuilt (bad file), skipped with a reason."""

    directory: Path
    computed: List[str] = field(default_factory=list)
    reused: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    rebuilt: List[Tuple[str, str]] = field(default_factory=list)
    n_chunks: int = 0

    def summary_line(self) -> str:
        rebuilt = f", {len(self.rebuilt)} rebuilt" if self.rebuilt else ""
        return (
            f"{self.directory}: {len(self.computed) + len(self.reused)} songs, {self.n_chunks} "
            f"chunks ({len(self.computed)} computed{rebuilt}, {len(self.reused)} reused, "
            f"{len(self.skipped)} skipped)"
        )


def _reusable(
    job: Dict[str, Any], songs_dir: Path, report: CacheReport
) -> Optional[Dict[str, Any]]:
    """The song's previous entry if it may be reused: same key, intact file, same sources."""
    previous = read_entry(songs_dir / f"{job['id']}.json")
    if not previous or previous.get("key") != job["key"]:
        return None
    recorded = json.dumps(previous.get("sources"))
    changed = changed_source(previous.get("sources"), job["paths"])
    if changed is not None:
        logger.info("song '%s': %s; computing it again", job["song"], changed)
        return None
    problem = entry_problem(previous, songs_dir)
    if problem is not None:
        logger.warning("cache of song '%s' is damaged (%s): rebuilding it", job["song"], problem)
        report.rebuilt.append((job["song"], problem))
        return None
    if json.dumps(previous["sources"]) != recorded:  # same bytes, new stat: record it
        write_text(songs_dir / f"{job['id']}.json", json.dumps(previous))
    return previous


def build_cache(
    params: Dict[str, Any],
    manifest_csv: PathLike,
    cache_dir: PathLike,
    data_dir: PathLike = "dataset",
    validation: bool = False,
    dtype: str = "uint8",
    workers: Optional[int] = None,
    show_progress: bool = True,
) -> CacheReport:
    """Cache every song of ``manifest_csv`` (paths relative to ``data_dir``) into ``cache_dir``.

    Training: ``n_chunks_per_song`` chunks of ``chunk_duration`` s; validation: the central
    12 s. Songs already cached with the same settings, an intact file (size and sha256) and the
    same source files (``data.sources``) are reused, damaged or stale ones computed again; an
    ``index.json`` not written by this module is never replaced; a bad song (missing or
    unreadable source) gets one ``ERROR <song>: <problem>`` line and is skipped
    (``report.skipped``); short chunks are kept (the datasets zero-pad them to T).
    """
    from tqdm import tqdm

    settings = cache_settings(params, dtype, validation)
    chunk_samples = settings["chunk_duration"] * params["sample_rate"]
    if (chunk_samples - params["frame_length"]) / params["frame_step"] < params["T"]:
        raise DataError(
            f"chunk_duration {settings['chunk_duration']} s gives fewer than T = {params['T']} "
            "frames; raise chunk_duration (-cd) or lower T (-T)"
        )
    cache_dir, data_dir = Path(cache_dir), Path(data_dir)
    check_cache_folder(cache_dir)
    rows, problems = manifest_rows(manifest_csv, params)
    refuse_cache_in_inputs(cache_dir, data_dir, rows)
    with held_cache(cache_dir) as songs_dir:  # a killed run's temporaries are removed here
        report = CacheReport(cache_dir, skipped=list(problems))
        _warn_repeated_chunks([row.duration_s for row in rows], settings)
        jobs, entries, order = [], {}, []
        for row in rows:
            job = {
                "song": row.song,
                "id": _song_id(row.song, row.paths),
                "paths": [str(data_dir / path) for path in row.paths],
                "duration": row.duration_s,
                "settings": settings,
                "directory": str(songs_dir),
            }
            job["key"] = hashlib.sha1(
                json.dumps([settings, job["paths"], job["duration"]], sort_keys=True).encode()
            ).hexdigest()
            order.append(job["id"])
            missing = next(filter(None, map(source_problem, job["paths"])), None)
            if missing is not None:
                report.skipped.append((row.song, missing))
                continue
            previous = _reusable(job, songs_dir, report)
            if previous is not None:
                entries[job["id"]] = previous
                report.reused.append(row.song)
                continue
            jobs.append(job)
        workers = min(4, os.cpu_count() or 1) if workers is None else max(1, workers)
        bar = {"total": len(jobs), "desc": f"caching {cache_dir}", "unit": "song"}
        bar["disable"] = not show_progress
        if workers == 1 or len(jobs) <= 1:
            results = list(tqdm(map(_cache_song, jobs), **bar))
        else:
            pool = worker_pool(workers)
            try:
                with workers_starting():
                    futures = as_completed([pool.submit(_cache_song, job) for job in jobs])
                results = [future.result() for future in tqdm(futures, **bar)]
            finally:  # interrupted (Ctrl-C, SIGTERM): the songs not yet started are dropped
                pool.shutdown(cancel_futures=True)
        for result in results:
            if "error" in result:
                report.skipped.append((result["song"], result["error"]))
            else:
                entries[result["id"]] = result
                report.computed.append(result["song"])
                for chunk in result["skipped_chunks"]:
                    logger.warning(
                        "song '%s': chunk at %.2f s skipped (%s)",
                        result["song"],
                        chunk["start_s"],
                        chunk["reason"],
                    )
        for song, problem in report.skipped:
            logger.error("ERROR %s: %s", song, problem)
        ordered = [entries[song_id] for song_id in dict.fromkeys(order) if song_id in entries]
        if not ordered:
            raise DataError(
                f"{manifest_csv}: no song could be cached ({len(report.skipped)} skipped)"
            )
        report.n_chunks = sum(len(entry["chunks"]) for entry in ordered)
        index = {"settings": settings, "songs": ordered, "skipped": report.skipped}
        write_text(cache_dir / "index.json", json.dumps(index))
        logger.debug(report.summary_line())
        return report


def refuse_cache_in_inputs(cache_dir: PathLike, data_dir: PathLike, rows: List[Any]) -> None:
    """ConfigurationError (a usage error, before any work) when ``cache_dir`` is the dataset
    folder or lies inside a song's folder (of the manifest ``rows``): its files would be written
    among the songs. A folder of its own inside the dataset is fine (Spleeter's own test keeps
    its caches there): it holds no audio, so it is never read as a song."""
    data_dir = Path(data_dir)
    if Path(cache_dir).resolve() == data_dir.resolve():
        raise ConfigurationError(
            f"cache {cache_dir} is the dataset folder {data_dir}, an input of the cache: set "
            "training_cache / validation_cache to a folder of their own"
        )
    songs = dict.fromkeys((data_dir / path).parent for row in rows for path in row.paths)
    for folder in songs:
        if is_within(cache_dir, folder):
            raise ConfigurationError(
                f"cache {cache_dir} is inside (or is) the song folder {folder}, an input of the "
                "cache: set training_cache / validation_cache to a folder outside the songs"
            )


def process_data(
    params: Dict[str, Any],
    data_dir: PathLike = "dataset",
    dtype: str = "uint8",
    workers: Optional[int] = None,
    show_progress: bool = True,
) -> Dict[str, CacheReport]:
    """Build the training and validation caches the configuration names (``training_cache``,
    ``validation_cache``) from its manifests (``train_csv``, ``validation_csv``)."""
    options = dict(data_dir=data_dir, dtype=dtype, workers=workers, show_progress=show_progress)
    manifests = [Path(params["train_csv"]), validation_csv := Path(params["validation_csv"])]
    found = [manifest_rows(path, params) if path.is_file() else ([], []) for path in manifests]
    rows = [row for listed, _ in found for row in listed]
    for cache_dir in (params["training_cache"], params["validation_cache"]):
        check_cache_folder(cache_dir)  # before any song is computed
        refuse_cache_in_inputs(cache_dir, data_dir, rows)
    reports = {
        "training": build_cache(params, params["train_csv"], params["training_cache"], **options)
    }
    if any(found[1]):  # the validation manifest lists a song (or a bad line)
        reports["validation"] = build_cache(
            params, validation_csv, params["validation_cache"], validation=True, **options
        )
    else:
        logger.warning("%s is missing or empty: no validation cache", validation_csv)
    return reports
