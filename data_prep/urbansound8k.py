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
``fold`` = fold (int), ``meta`` = {fsID, start, end, salience}. A CSV row whose file is missing is
listed as skipped ("missing file"); a wav with no CSV row is reported as a warning.
"""

from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_CACHE_SRS, Candidate, make_config, parse_float, parse_int, prepare_clips, read_csv_columns

__all__ = ["CLASSES", "METADATA", "download", "load_candidates", "prepare"]

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


def load_candidates(raw_dir: str | Path, *, what: str = "urbansound8k"):
    """Parse the UrbanSound8K layout.

    Returns
    -------
    candidates : list of Candidate
    warnings : list of dict
        wav files without a CSV row and classID/file-name disagreements.
    csv_path : Path
    """
    from sea.errors import DatasetError

    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DatasetError(f"{what}: raw folder {str(raw_dir)!r} does not exist")
    csv_path = raw_dir / METADATA
    if not csv_path.is_file() and (raw_dir / "UrbanSound8K" / METADATA).is_file():
        raise DatasetError(
            f"{what}: {str(raw_dir)!r} contains an 'UrbanSound8K' folder; pass {str(raw_dir / 'UrbanSound8K')!r} instead"
        )
    rows, col = read_csv_columns(csv_path, COLUMNS, what=what)
    audio = raw_dir / "audio"
    if not audio.is_dir():
        raise DatasetError(f"{what}: {str(audio)!r} does not exist; expected audio/fold1 ... audio/fold10")
    cands, warns, listed = [], [], set()
    for i, row in enumerate(rows, start=2):
        name = (row[col["slice_file_name"]] or "").strip()
        if not name:
            raise DatasetError(f"{str(csv_path)!r} row {i}: empty slice_file_name")
        fold = parse_int(row[col["fold"]], column="fold", path=csv_path, row=i)
        class_id = parse_int(row[col["classID"]], column="classID", path=csv_path, row=i)
        start = parse_float(row[col["start"]], column="start", path=csv_path, row=i)
        end = parse_float(row[col["end"]], column="end", path=csv_path, row=i)
        path = audio / f"fold{fold}" / name
        listed.add(path.resolve())
        stem = Path(name).stem
        parts = stem.split("-")
        if len(parts) == 4 and parts[1].isdigit() and int(parts[1]) != class_id:
            warns.append(
                {
                    "clip_id": stem,
                    "path": str(path),
                    "kind": "classID differs from file name",
                    "detail": f"CSV classID {class_id}, file name says {parts[1]}",
                }
            )
        cands.append(
            Candidate(
                path=path,
                clip_id=stem,
                label=row[col["class"]].strip(),
                label_id=class_id,
                fold=fold,
                meta={
                    "fsID": row[col["fsID"]].strip(),
                    "start": start,
                    "end": end,
                    "salience": parse_int(row[col["salience"]], column="salience", path=csv_path, row=i),
                },
                expected_duration=end - start,
            )
        )
    for p in sorted(audio.glob("fold*/*")):
        if p.is_file() and not p.name.startswith(".") and p.resolve() not in listed:
            warns.append(
                {
                    "clip_id": None,
                    "path": str(p),
                    "kind": "file without a CSV row (ignored)",
                    "detail": f"{p.name} is not listed in {METADATA.as_posix()}",
                }
            )
    return cands, warns, csv_path


def prepare(
    raw_dir: str | Path,
    run_dir: str | Path,
    *,
    cache_srs=DEFAULT_CACHE_SRS,
    strict: bool = False,
    overwrite: bool = False,
    dataset: str = "urbansound8k",
    **options,
) -> Path:
    """Prepare UrbanSound8K into ``run_dir``; returns the manifest path.

    Parameters
    ----------
    raw_dir : path
        Folder holding ``metadata/UrbanSound8K.csv`` and ``audio/foldN/``.
    run_dir : path
    cache_srs : tuple of int
        Rates of the audio caches.
    strict : bool
        Raise on any skipped file instead of listing it.
    overwrite : bool
        Redo a finished prepare.
    **options
        ``res_type``.
    """
    config = make_config(dataset, raw_dir, cache_srs=cache_srs, strict=strict, **options)
    cands, warns, csv_path = load_candidates(raw_dir, what=dataset)
    return prepare_clips(
        cands,
        run_dir,
        config,
        inputs={"metadata": csv_path},
        overwrite=overwrite,
        warnings_=warns,
        extra_fingerprint=[Path(w["path"]) for w in warns if w["clip_id"] is None],
    )


def download(data_home: str | Path) -> Path:
    """Download UrbanSound8K with soundata into ``data_home`` (needs internet and ``sea[download]``).

    ``data_home`` then directly holds ``audio/foldN/`` and ``metadata/`` (pass it to
    ``sea data prepare urbansound8k``). About 5.6 GiB; soundata cannot resume an interrupted download.
    """
    from .download import soundata_download

    return soundata_download("urbansound8k", data_home, host="zenodo.org", manual_url=MANUAL_URL)
