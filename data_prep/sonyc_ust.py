"""SONYC-UST: multi-label urban sound tagging of 10-s sensor recordings from New York City (v2.3 and v1).

Dataset card
------------
Versions (detected from the columns of ``annotations.csv``)
    **v2.3** (Zenodo 3966543, DCASE 2020; downloadable with ``sea data download sonyc_ust``): 18510
    clips, train 13538 (35 sensors), validate 4308 (9 other sensors), test 664 (later in time),
    with spatiotemporal context columns. **v1** (Zenodo 2590742, DCASE 2019, the version of the SEA
    paper): 3068 clips, train 2351, validate 443 (sensors disjoint from train), test 274 (in the
    later 2019 release 3338310); the same label columns but **no** ``year, week, day, hour, borough,
    block, latitude, longitude`` columns, so its clips get no date (day buckets fall back to clip
    buckets). A file without the ``year``/``week`` columns is read as v1, with a note in the report;
    ``data_report.json`` records ``dataset_details.version`` (``"v1"`` or ``"v2"``).
    v1 cannot be downloaded by sea (no published checksums): fetch ``annotations.csv`` and
    ``audio.tar.gz`` from https://zenodo.org/records/2590742 and extract them into RAW_DIR.
Layout
    ``annotations.csv`` (plus ``dcase-ust-taxonomy.yaml``, README) and the audio, found by file
    name anywhere under ``audio*/`` (v2.3: ``audio/``, ``audio-N/`` or ``audio/audio-N/`` from
    ``audio-0.tar.gz`` ... ``audio-18.tar.gz``) or ``train/``, ``validate/``, ``test/`` (v1's archive).
Columns of ``annotations.csv`` (one row per annotation, read by name)
    ``split`` (train/validate/test), ``sensor_id``, ``audio_filename``, ``annotator_id`` (> 0 a
    volunteer, < 0 a SONYC team member, **0 the verified ground truth**), v2 only ``year, week, day,
    hour, borough, block, latitude, longitude``, ``<c>-<f>_<fine>_presence`` (1 / 0 / -1 = not
    labelled), ``<c>_<coarse>_presence`` and ``<c>-<f>_<fine>_proximity``.
When (v2): ``year``, ``week``, ``day``, ``hour``
    The README: ``day`` is the day of the week "with Monday as the start (i.e. 0=Monday)", ``hour``
    the hour of the day (local time, quantised to the hour for privacy), ``week`` "the week of the
    year", numbering unstated. Rule used here: **ISO 8601 weeks** (1-53), unless the file holds a week
    0, which ISO weeks never are; then Monday-started ``%W`` weeks (week 0 = the days before the year's
    first Monday). The counts of week-0 and week-53 rows and the rule chosen go into the report's notes.
    The date is the day of calendar year ``year`` with that ISO week and weekday (30 Dec 2019 lies in
    ISO week 1 of 2020 and is read from ``(2019, 1, 0)``); in the rare years where one (week, weekday)
    names two dates of the same calendar year (1 Jan and 31 Dec 2017, both Sunday of ISO week 52),
    the one in ISO year ``year`` is taken. A row naming no date (week 53 of a 52-week year...) gets no
    date, with a warning. The manifest gets ``meta.date`` (``YYYY-MM-DD``), ``meta.timestamp``
    (``YYYY-MM-DDTHH:00:00``, local time, no UTC offset) and ``meta.sensor_id``: a clip's "day" is
    (sensor, calendar date), so a year of Mondays at one sensor is 52 days, not one.
Classes
    8 coarse (1 engine, 2 machinery-impact, 3 non-machinery-impact, 4 powered-saw, 5 alert-signal,
    6 music, 7 human-voice, 8 dog) and 23 fine classes plus 6 "X" (uncertain) tags, taken from the
    ``*_presence`` columns present in the file.
Label aggregation (as in the official DCASE 2020 baseline; the same for v1)
    train: a tag is positive if **any volunteer** (annotator_id > 0) marked it; verified rows are
    ignored. validate/test: only the verified row (annotator_id == 0). A validate/test clip without
    a verified row falls back to the volunteer rule, with ``meta["label_source"] = "volunteers"``
    and a warning in the report.
Audio
    10-s clips, identical microphones; the rate is checked per file (48 kHz reported for v2.3,
    44.1 kHz for v1).
Licence
    CC BY 4.0.
Citation
    M. Cartwright et al., "SONYC Urban Sound Tagging (SONYC-UST): A Multilabel Dataset from an Urban
    Acoustic Sensor Network", DCASE 2019 Workshop (v1); "SONYC-UST-V2: An Urban Sound Tagging Dataset
    with Spatiotemporal Context", DCASE 2020 Workshop; Zenodo doi:10.5281/zenodo.3966543.

Manifest mapping: ``clip_id`` = file stem, ``label`` = list of coarse names present,
``label_id`` = their 0-based coarse indices (coarse number - 1), ``split`` from the file, ``fold``
None; ``meta`` = sensor_id, date, timestamp, fine_labels, label_source, n_annotators, and (v2)
borough, block, latitude, longitude, year, week, weekday (the file's ``day``: 0 = Monday), hour.
"""

from __future__ import annotations

import re
from pathlib import Path

from sea.constants import VALID_SPLITS
from sea.errors import DatasetError

from .clips import Candidate, ClipList, warning_entry
from .config import PrepareConfig
from .engine import prepare_dataset
from .metadata import parse_float, parse_int, read_csv_columns
from .timestamps import sonyc_date, time_meta, week_numbering

__all__ = ["COARSE", "ZENODO_FILES", "ZENODO_RECORD", "download", "find_clips", "prepare"]

ANNOTATIONS = "annotations.csv"
COARSE = (
    "engine",
    "machinery-impact",
    "non-machinery-impact",
    "powered-saw",
    "alert-signal",
    "music",
    "human-voice",
    "dog",
)
REQUIRED = ("split", "sensor_id", "audio_filename", "annotator_id")
CONTEXT_INT = ("year", "week", "day", "hour", "borough", "block")
CONTEXT_FLOAT = ("latitude", "longitude")
#: Folders searched for the audio files (by file name): v2.3's ``audio*`` and v1's split folders.
AUDIO_FOLDERS = ("audio*", "train", "validate", "test")
V1_NOTE = (
    "SONYC-UST v1 layout (annotations.csv without year/week/day/hour columns): clips have a sensor_id "
    "but no date, so day buckets fall back to clip buckets"
)
_COARSE_RE = re.compile(r"^(\d+)_(.+)_presence$")
_FINE_RE = re.compile(r"^(\d+)-(\d+|X)_(.+)_presence$")

ZENODO_RECORD = 3966543
ZENODO_URL = f"https://zenodo.org/records/{ZENODO_RECORD}"
# md5 of every file of the v2.3 record, as Zenodo lists them (https://zenodo.org/api/records/3966543);
# pooch refuses a download that does not match.
ZENODO_FILES: dict[str, str] = {
    "annotations.csv": "md5:70b507b15bb4cfcce4870925302f276b",
    "dcase-ust-taxonomy.yaml": "md5:6c1cca1c4c383a6ebb0cb71cb74fe3a9",
    "README.md": "md5:bdfa3a4c0d90053f622b52afa0fc86f7",
    "audio-0.tar.gz": "md5:bbb4dbae7d2e58e18d24878b9ee1eb51",
    "audio-1.tar.gz": "md5:7c369ff37ac6a1fdd8493fdffe62e0a1",
    "audio-2.tar.gz": "md5:412241c063d7f196953d3dd1c44aeb5e",
    "audio-3.tar.gz": "md5:d2a872392d95993a2c238d305b940812",
    "audio-4.tar.gz": "md5:b15b0e0cb3f8584259ef0d24293a9be3",
    "audio-5.tar.gz": "md5:de745f887067433757a2f2c8f99f99bb",
    "audio-6.tar.gz": "md5:b0286c67468369d66336f6f5ddede31f",
    "audio-7.tar.gz": "md5:ff300183ab7a9d3f2f74c3b730ffeb52",
    "audio-8.tar.gz": "md5:7be76b821fa6dbe20f6b50ca440e1024",
    "audio-9.tar.gz": "md5:959f7edfbb26eadad9865069f38aa9dd",
    "audio-10.tar.gz": "md5:84e94de273666c537a3e6b709ee88d9b",
    "audio-11.tar.gz": "md5:44fe1f43121a7d1178aa0cdf7477793b",
    "audio-12.tar.gz": "md5:a7eb21011f460b5ac289f8e285e875ab",
    "audio-13.tar.gz": "md5:27945a8b1008eec787f97213164951e6",
    "audio-14.tar.gz": "md5:fb8c7d81c3bde3a0c86c1e55e6a85a24",
    "audio-15.tar.gz": "md5:f6af9b65d876ef96d199b9e5f0473cb9",
    "audio-16.tar.gz": "md5:e8337c61a90c30989d500f950fbe443a",
    "audio-17.tar.gz": "md5:3e47e85eb4564a30fe7f442ee97ec7b9",
    "audio-18.tar.gz": "md5:c6b2ef4d0d5b7269d465c469cdbbdc4b",
}


def _int_or_none(v):
    v = (v or "").strip()
    if not v:
        return None
    try:
        f = float(v)
        return int(f) if f.is_integer() else f
    except ValueError:
        return v


def _presence_columns(header: list[str]):
    coarse = sorted(
        ((int(m.group(1)), m.group(2), h) for h in header if (m := _COARSE_RE.match(h))), key=lambda t: t[0]
    )
    fine = []
    for h in header:
        m = _FINE_RE.match(h)
        if m:
            c, f = int(m.group(1)), m.group(2)
            fine.append((c, 1000 if f == "X" else int(f), f"{c}-{f}_{m.group(3)}", h))
    fine.sort()
    return coarse, [(name, h) for _, _, name, h in fine]


def _index_audio(raw_dir: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    folders = sorted({d for pattern in AUDIO_FOLDERS for d in raw_dir.glob(pattern)})
    for d in folders:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                index.setdefault(p.name, p)
    return index


def _group_rows(rows: list[dict], csv_path: Path, coarse: list, fine: list) -> dict[str, dict]:
    """Group the annotation rows by clip: ``{file name: {"split", "rows", "first", "splits"}}``.

    Each entry of ``"rows"`` is ``(annotator_id, coarse presences, fine presences)``.
    """
    clips: dict[str, dict] = {}
    for i, row in enumerate(rows, start=2):
        name = (row["audio_filename"] or "").strip()
        if not name:
            raise DatasetError(f"{str(csv_path)!r} row {i}: empty audio_filename")
        split = (row["split"] or "").strip()
        if split not in VALID_SPLITS:
            raise DatasetError(f"{str(csv_path)!r} row {i}: split={split!r} must be one of {', '.join(VALID_SPLITS)}")
        ann = parse_int(row["annotator_id"], column="annotator_id", path=csv_path, row=i)
        c = clips.setdefault(name, {"split": split, "rows": [], "first": row, "splits": set()})
        c["splits"].add(split)
        c["rows"].append(
            (
                ann,
                [parse_float(row[h] or "0", column=h, path=csv_path, row=i) for _, _, h in coarse],
                [parse_float(row[h] or "0", column=h, path=csv_path, row=i) for _, h in fine],
            )
        )
    return clips


def _context(first: dict, numbering: str) -> dict:
    """Where and when the clip was recorded, from its first annotation row (v2 columns; none in v1).

    The file's ``day`` (0 = Monday) is kept as ``weekday``; ``date`` and ``timestamp`` are the
    calendar date and hour it names (see the module docstring).
    """
    meta = {}
    for k in CONTEXT_INT + CONTEXT_FLOAT:
        if k in first:
            v = (first[k] or "").strip()
            meta["weekday" if k == "day" else k] = _int_or_none(v) if k in CONTEXT_INT else (float(v) if v else None)
    year, week, weekday, hour = (meta.get(k) for k in ("year", "week", "weekday", "hour"))
    if all(isinstance(v, int) for v in (year, week, weekday)):
        meta.update(time_meta(sonyc_date(year, week, weekday, numbering), hour if isinstance(hour, int) else None))
    return meta


def _date_warnings(cands: list[Candidate]) -> list[dict]:
    """A warning per clip whose year/week/day columns are given but name no date."""
    out = []
    for c in cands:
        m = c.meta
        if "date" not in m and any(m.get(k) is not None for k in ("year", "week", "weekday")):
            detail = f"year={m.get('year')!r}, week={m.get('week')!r}, day={m.get('weekday')!r} name no calendar date"
            out.append(warning_entry(c.clip_id, c.path, "no recording date (bad year/week/day)", detail))
    return out


def _candidate(
    name: str, c: dict, path: Path, coarse: list, fine: list, warns: list[dict], numbering: str
) -> Candidate:
    """One clip with its labels aggregated as the DCASE 2020 baseline does (see the module docstring)."""
    split = c["split"]
    volunteers = [r for r in c["rows"] if r[0] > 0]
    verified = [r for r in c["rows"] if r[0] == 0]
    if split == "train" or not verified:
        source, use = "volunteers", volunteers
        if split != "train":
            kind = f"{split} clip without a verified row (volunteer labels used)"
            warns.append(warning_entry(Path(name).stem, name, kind, "no annotator_id == 0 row"))
    else:
        source, use = "verified", verified[:1]
    # any-vote over the rows used: a value of 1 is a positive (-1 = not labelled, 0 = absent)
    c_pos = [any(r[1][k] == 1 for r in use) for k in range(len(coarse))]
    f_pos = [any(r[2][k] == 1 for r in use) for k in range(len(fine))]
    first = c["first"]
    meta = {
        "sensor_id": (first["sensor_id"] or "").strip(),
        "fine_labels": [fine[k][0] for k in range(len(fine)) if f_pos[k]],
        "label_source": source,
        "n_annotators": len(volunteers),
    }
    meta.update(_context(first, numbering))
    return Candidate(
        path=path,
        clip_id=Path(name).stem,
        label=[coarse[k][1] for k in range(len(coarse)) if c_pos[k]],
        label_id=[coarse[k][0] - 1 for k in range(len(coarse)) if c_pos[k]],
        split=split,
        meta=meta,
    )


def find_clips(raw_dir: Path, config: PrepareConfig, run_dir: Path) -> ClipList:
    """Read SONYC-UST annotations (v2.3, or v1 when the time columns are absent) into one candidate per clip.

    Parameters
    ----------
    raw_dir : Path
        Folder holding ``annotations.csv`` and the ``audio*/`` folders.
    config : PrepareConfig
        Only ``dataset`` names it in messages.
    run_dir : Path
        Not read.

    Returns
    -------
    clips : ClipList
        Candidates with multi-label coarse labels; a warning per validate/test clip that has no
        verified row.
    """
    if not raw_dir.is_dir():
        raise DatasetError(f"sonyc_ust: raw folder {str(raw_dir)!r} does not exist")
    csv_path = raw_dir / ANNOTATIONS
    rows, _ = read_csv_columns(csv_path, REQUIRED, what="sonyc_ust")
    header = list(rows[0].keys()) if rows else []
    coarse, fine = _presence_columns(header)
    if not coarse:
        raise DatasetError(
            f"sonyc_ust: {str(csv_path)!r} has no '<n>_<coarse>_presence' columns (e.g. '1_engine_presence'); "
            f"columns found: {', '.join(header)}"
        )
    index = _index_audio(raw_dir)
    if not index:
        raise DatasetError(
            f"sonyc_ust: no audio files under {str(raw_dir)!r} (audio*/, or train/ validate/ test/ for v1); "
            "extract the audio archives there"
        )
    v1 = not {"year", "week"} <= set(header)
    numbering, week_counts, week_note = week_numbering([] if v1 else [_week_of(r) for r in rows])
    cands, warns = [], []
    for name, c in _group_rows(rows, csv_path, coarse, fine).items():
        if len(c["splits"]) > 1:
            raise DatasetError(
                f"sonyc_ust: {name} appears in several splits {sorted(c['splits'])} in {str(csv_path)!r}"
            )
        path = index.get(name, raw_dir / "audio" / name)
        cands.append(_candidate(name, c, path, coarse, fine, warns, numbering))
    notes = [V1_NOTE] if v1 else [week_note]
    details = {"version": "v1"} if v1 else {"version": "v2", "week_numbering": numbering, **week_counts}
    clips = ClipList(cands, warnings=warns + _date_warnings(cands), notes=notes, inputs={"metadata": csv_path})
    clips.details = details
    return clips


def _week_of(row: dict) -> int | None:
    w = _int_or_none(row.get("week"))
    return w if isinstance(w, int) else None


def prepare(raw_dir: str | Path, run_dir: str | Path, *, overwrite: bool = False, **options) -> Path:
    """Prepare SONYC-UST (v2.3 or v1) into ``run_dir``, labels aggregated as the DCASE 2020 baseline does.

    Parameters
    ----------
    raw_dir, run_dir : path
        The folder holding ``annotations.csv`` and the extracted ``audio*/`` folders; the output run directory.
    overwrite : bool
        Rebuild a prepare that already finished.
    **options
        :class:`~data_prep.config.PrepareConfig` fields (``cache_srs``, ``strict``, ``res_type``).

    Returns
    -------
    manifest : Path
        The manifest, one multi-label record per clip with its split.
    """
    return prepare_dataset(find_clips, "sonyc_ust", raw_dir, run_dir, overwrite=overwrite, **options)


def download(data_home: str | Path, *, files: list[str] | None = None) -> Path:
    """Download SONYC-UST v2.3 from Zenodo with pooch and extract the audio (about 18 GB).

    Every file is checked against its md5 pinned in :data:`ZENODO_FILES`; a mismatch (a truncated
    or changed file) raises :class:`~sea.errors.DatasetError` and the file is not kept.

    Parameters
    ----------
    data_home : path
        Destination; it will hold ``annotations.csv`` and ``audio-N/`` folders, ready for
        ``sea data prepare sonyc_ust``.
    files : list of str or None
        Subset of :data:`ZENODO_FILES` (default: all).

    Returns
    -------
    data_home : Path
    """
    import tarfile

    from .download import check_online, is_network_error, offline_error

    try:
        import pooch
    except ImportError:
        raise DatasetError("downloading SONYC-UST needs pooch; pip install pooch") from None
    files = list(files or ZENODO_FILES)
    unknown = sorted(set(files) - set(ZENODO_FILES))
    if unknown:
        raise DatasetError(f"unknown SONYC-UST file(s) {unknown}; choose from {', '.join(ZENODO_FILES)}")
    data_home = Path(data_home)
    data_home.mkdir(parents=True, exist_ok=True)
    check_online("zenodo.org", "SONYC-UST v2.3", ZENODO_URL)
    try:
        for name in files:
            path = pooch.retrieve(
                f"{ZENODO_URL}/files/{name}?download=1",
                known_hash=ZENODO_FILES[name],
                fname=name,
                path=data_home,
                progressbar=True,
            )
            if name.endswith(".tar.gz"):
                with tarfile.open(path) as tar:
                    tar.extractall(data_home / name[: -len(".tar.gz")], filter="data")
    except DatasetError:
        raise
    except Exception as exc:
        if is_network_error(exc):
            raise offline_error("zenodo.org", "SONYC-UST v2.3", ZENODO_URL) from None
        if "does not match the known hash" in str(exc):
            raise DatasetError(
                f"SONYC-UST {name} does not match its pinned {ZENODO_FILES[name]} (truncated download, or the "
                f"Zenodo record changed); nothing was kept, run 'sea data download sonyc_ust' again or download it "
                f"manually from {ZENODO_URL}"
            ) from None
        raise DatasetError(f"SONYC-UST download of {name} failed: {exc}") from None
    return data_home
