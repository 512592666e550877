"""UrbanSound8K: 8732 labelled urban sound excerpts (<= 4 s) in 10 predefined folds.

Dataset card
------------
Layout
    ``UrbanSound8K/audio/fold1 … fold10/*.wav`` and ``UrbanSound8K/metadata/UrbanSound8K.csv``.
Columns of ``metadata/UrbanSound8K.csv`` (read by name)
    ``slice_file_name, fsID, start, end, salience, fold, classID, class``; some copies name the
    last column ``class_name`` (both are accepted). File names are
    ``[fsID]-[classID]-[occurrenceID]-[sliceID].wav``; ``salience`` 1 = foreground, 2 = background;
    ``start``/``end`` locate the slice in the Freesound recording.
Classes (classID: class)
    0 air_conditioner, 1 car_horn, 2 children_playing, 3 dog_bark, 4 drilling, 5 engine_idling,
    6 gun_shot, 7 jackhammer, 8 siren, 9 street_music.
Folds
    10 predefined folds (873-990 clips each); slices of one recording stay in one fold. Protocol:
    10-fold cross-validation on these folds, never a random re-split.
Audio
    Rate, bit depth and channels follow the Freesound originals (8-96 kHz, 16/24/32-bit, mostly
    stereo, WAVE_FORMAT_EXTENSIBLE headers); decoded with libsndfile, downmixed and resampled here.
Licence
    CC BY-NC 3.0 (README; some copies say 4.0) -- non-commercial; attributions in FREESOUNDCREDITS.txt.
Citation
    J. Salamon, C. Jacoby and J. P. Bello, "A Dataset and Taxonomy for Urban Sound Research",
    ACM Multimedia 2014, pp. 1041-1044.

Manifest mapping: ``clip_id`` = file stem, ``label`` = class name, ``label_id`` = classID,
``fold`` = fold (int), ``meta`` = {fsID, start, end, salience, group}; ``group`` = ``fsID``, the
Freesound recording the slice was cut from (slices of one recording are near-duplicates: grouped
cross-validation keeps a group on one side, e.g. on a subset with fewer than 3 folds). A CSV row
whose file is missing is listed as skipped ("missing file"); a wav with no CSV row is reported as
a warning.
"""

from __future__ import annotations

from pathlib import Path

from sea.errors import DatasetError

from .clips import Candidate, ClipList, real_path, unlisted_warnings, warning_entry
from .config import PrepareConfig
from .engine import prepare_dataset
from .metadata import parse_float, parse_int, read_csv_columns

__all__ = ["CLASSES", "METADATA", "download", "find_clips", "prepare"]

CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)
METADATA = Path("metadata") / "UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", ("class", "class_name"))
MANUAL_URL = "https://urbansounddataset.weebly.com/urbansound8k.html"


def _check_layout(raw_dir: Path, csv_path: Path, what: str) -> None:
    if not raw_dir.is_dir():
        raise DatasetError(f"{what}: raw folder {str(raw_dir)!r} does not exist")
    if not csv_path.is_file() and (raw_dir / "UrbanSound8K" / METADATA).is_file():
        raise DatasetError(
            f"{what}: {str(raw_dir)!r} contains an 'UrbanSound8K' folder; pass {str(raw_dir / 'UrbanSound8K')!r} instead"
        )


def _candidate(row: dict, col: dict, i: int, csv_path: Path, audio: Path) -> Candidate:
    """Build the clip of CSV row ``i``."""
    name = (row[col["slice_file_name"]] or "").strip()
    if not name:
        raise DatasetError(f"{str(csv_path)!r} row {i}: empty slice_file_name")
    fold = parse_int(row[col["fold"]], column="fold", path=csv_path, row=i)
    class_id = parse_int(row[col["classID"]], column="classID", path=csv_path, row=i)
    start = parse_float(row[col["start"]], column="start", path=csv_path, row=i)
    end = parse_float(row[col["end"]], column="end", path=csv_path, row=i)
    return Candidate(
        path=audio / f"fold{fold}" / name,
        clip_id=Path(name).stem,
        label=row[col["class"]].strip(),
        label_id=class_id,
        fold=fold,
        meta={
            "fsID": row[col["fsID"]].strip(),
            "group": row[col["fsID"]].strip(),
            "start": start,
            "end": end,
            "salience": parse_int(row[col["salience"]], column="salience", path=csv_path, row=i),
        },
        expected_duration=end - start,
    )


def _class_id_warning(c: Candidate) -> dict | None:
    """File names are ``[fsID]-[classID]-[occurrenceID]-[sliceID]``; report a classID the CSV contradicts."""
    parts = c.clip_id.split("-")
    if len(parts) == 4 and parts[1].isdigit() and int(parts[1]) != c.label_id:
        detail = f"CSV classID {c.label_id}, file name says {parts[1]}"
        return warning_entry(c.clip_id, c.path, "classID differs from file name", detail)
    return None


def find_clips(raw_dir: Path, config: PrepareConfig, run_dir: Path) -> ClipList:
    """Read the UrbanSound8K layout.

    Parameters
    ----------
    raw_dir : Path
        Folder holding ``metadata/UrbanSound8K.csv`` and ``audio/foldN/``.
    config : PrepareConfig
        ``config.dataset`` names the dataset in messages (``synthetic`` reads this layout too).
    run_dir : Path
        Not read (a parameter of every ``find_clips``).

    Returns
    -------
    clips : ClipList
        One candidate per CSV row; warnings for classID / file-name disagreements and for audio
        files without a CSV row (ignored, and fingerprinted so that a new one reruns the stage).
    """
    what = config.dataset
    csv_path = raw_dir / METADATA
    _check_layout(raw_dir, csv_path, what)
    rows, col = read_csv_columns(csv_path, COLUMNS, what=what)
    audio = raw_dir / "audio"
    if not audio.is_dir():
        raise DatasetError(f"{what}: {str(audio)!r} does not exist; expected audio/fold1 ... audio/fold10")
    cands, warns = [], []
    for i, row in enumerate(rows, start=2):
        cands.append(_candidate(row, col, i, csv_path, audio))
        warn = _class_id_warning(cands[-1])
        if warn is not None:
            warns.append(warn)
    unlisted = unlisted_warnings(
        sorted(audio.glob("fold*/*")),
        {real_path(c.path) for c in cands},
        kind="file without a CSV row (ignored)",
        detail=lambda p: f"{p.name} is not listed in {METADATA.as_posix()}",
    )
    return ClipList(
        cands,
        warnings=warns + unlisted,
        inputs={"metadata": csv_path},
        extra_fingerprint=[Path(w["path"]) for w in unlisted],
    )


def prepare(raw_dir: str | Path, run_dir: str | Path, *, overwrite: bool = False, **options) -> Path:
    """Prepare UrbanSound8K into ``run_dir``.

    A CSV row whose file is missing is listed as skipped; a wav with no CSV row is a warning.

    Parameters
    ----------
    raw_dir : path
        Folder holding ``metadata/UrbanSound8K.csv`` and ``audio/foldN/``.
    run_dir : path
        Where the manifest, caches and report go.
    **options
        ``overwrite`` (redo a finished prepare) and :class:`~data_prep.config.PrepareConfig` fields:
        ``cache_srs``, ``strict``, ``res_type``.

    Returns
    -------
    manifest : Path
        ``run_dir/clips.jsonl``, one record per usable CSV row.
    """
    return prepare_dataset(find_clips, "urbansound8k", raw_dir, run_dir, overwrite=overwrite, **options)


def download(data_home: str | Path) -> Path:
    """Download UrbanSound8K with soundata into ``data_home`` (needs internet and ``sea[download]``).

    ``data_home`` then directly holds ``audio/foldN/`` and ``metadata/`` (pass it to
    ``sea data prepare urbansound8k``). About 5.6 GiB; soundata cannot resume an interrupted download.

    Parameters
    ----------
    data_home : path
        Destination folder.

    Returns
    -------
    data_home : Path
    """
    from .download import soundata_download

    return soundata_download("urbansound8k", data_home, host="zenodo.org", manual_url=MANUAL_URL)
