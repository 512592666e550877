"""ESC-50: 2000 environmental sound clips (5 s), 50 classes, 5 predefined folds.

Dataset card
------------
Layout
    ``audio/*.wav`` (44.1 kHz mono, 5 s) named ``{fold}-{srcID}-{take}-{target}.wav`` and
    ``meta/esc50.csv``.
Columns of ``meta/esc50.csv`` (read by name)
    ``filename, fold, target, category, esc10, src_file, take``.
Classes
    50 classes x 40 clips (``target`` 0-49, ``category`` e.g. dog, siren, car_horn, engine,
    chainsaw, church_bells...). ESC-10 is the 10-class subset flagged by the ``esc10`` column.
Folds
    5 predefined folds; protocol: 5-fold cross-validation on them.
Licence
    CC BY-NC 3.0; the ESC-10 subset is CC BY. Per-clip attribution in the repository's LICENSE.
Citation
    K. J. Piczak, "ESC: Dataset for Environmental Sound Classification", ACM Multimedia 2015.

Manifest mapping: ``clip_id`` = file stem, ``label`` = category, ``label_id`` = target,
``fold`` = fold, ``meta`` = {src_file, take, esc10, target}.

``esc10=True`` keeps only the ESC-10 rows and **re-indexes** ``label_id`` to 0..9 in ascending
order of the original ESC-50 target (so dog=0 … crackling_fire=9 on the official data); the
original target stays in ``meta["target"]``.
"""

from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_CACHE_SRS, Candidate, make_config, parse_int, prepare_clips, read_csv_columns

__all__ = ["METADATA", "download", "load_candidates", "prepare"]

METADATA = Path("meta") / "esc50.csv"
COLUMNS = ("filename", "fold", "target", "category", "esc10")
MANUAL_URL = "https://github.com/karolpiczak/ESC-50"


def _truthy(v: str) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes")


def load_candidates(raw_dir: str | Path, *, esc10: bool = False):
    """Parse the ESC-50 layout; returns (candidates, warnings, csv_path)."""
    from sea.errors import DatasetError

    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DatasetError(f"esc50: raw folder {str(raw_dir)!r} does not exist")
    csv_path = raw_dir / METADATA
    rows, col = read_csv_columns(csv_path, COLUMNS, what="esc50")
    audio = raw_dir / "audio"
    if not audio.is_dir():
        raise DatasetError(f"esc50: {str(audio)!r} does not exist; expected the clips in audio/")
    parsed = []
    for i, row in enumerate(rows, start=2):
        target = parse_int(row[col["target"]], column="target", path=csv_path, row=i)
        fold = parse_int(row[col["fold"]], column="fold", path=csv_path, row=i)
        is10 = _truthy(row[col["esc10"]])
        if esc10 and not is10:
            continue
        parsed.append((row, target, fold, is10))
    if esc10 and not parsed:
        raise DatasetError(f"esc50: no row of {str(csv_path)!r} has esc10=True; cannot build the ESC-10 subset")
    remap = {t: k for k, t in enumerate(sorted({t for _, t, _, _ in parsed}))} if esc10 else None
    cands, listed = [], set()
    for row, target, fold, is10 in parsed:
        name = row[col["filename"]].strip()
        path = audio / name
        listed.add(path.resolve())
        meta = {"target": target, "esc10": is10}
        for extra in ("src_file", "take"):
            if extra in row:
                meta[extra] = (row[extra] or "").strip()
        cands.append(
            Candidate(
                path=path,
                clip_id=Path(name).stem,
                label=row[col["category"]].strip(),
                label_id=remap[target] if remap else target,
                fold=fold,
                meta=meta,
            )
        )
    warns = []
    if not esc10:
        for p in sorted(audio.iterdir()):
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
    esc10: bool = False,
    **options,
) -> Path:
    """Prepare ESC-50 (or ESC-10 with ``esc10=True``) into ``run_dir``; returns the manifest path."""
    config = make_config("esc50", raw_dir, cache_srs=cache_srs, strict=strict, esc10=esc10, **options)
    cands, warns, csv_path = load_candidates(raw_dir, esc10=esc10)
    notes = (
        ["ESC-10 subset: label_id re-indexed 0..9 by ascending ESC-50 target; meta.target keeps it"] if esc10 else []
    )
    return prepare_clips(
        cands, run_dir, config, inputs={"metadata": csv_path}, overwrite=overwrite, warnings_=warns, notes=notes
    )


def download(data_home: str | Path) -> Path:
    """Download ESC-50 with soundata into ``data_home`` (needs internet and ``sea[download]``)."""
    from .download import soundata_download

    return soundata_download("esc50", data_home, host="github.com", manual_url=MANUAL_URL)
