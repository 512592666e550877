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
``fold`` = fold, ``meta`` = {src_file, take, esc10, target, group}; ``group`` = ``src_file``, the
Freesound recording the clip was cut from (for grouped cross-validation when fewer than 3 folds are
present; clips without ``src_file`` get none).

``esc10=True`` keeps only the ESC-10 rows and **re-indexes** ``label_id`` to 0..9 in ascending
order of the original ESC-50 target (so dog=0 … crackling_fire=9 on the official data); the
original target stays in ``meta["target"]``.
"""

from __future__ import annotations

from pathlib import Path

from sea.errors import DatasetError

from .clips import Candidate, ClipList, real_path, unlisted_warnings
from .config import PrepareConfig
from .engine import prepare_dataset
from .metadata import parse_int, read_csv_columns

__all__ = ["METADATA", "download", "find_clips", "prepare"]

METADATA = Path("meta") / "esc50.csv"
COLUMNS = ("filename", "fold", "target", "category", "esc10")
MANUAL_URL = "https://github.com/karolpiczak/ESC-50"
ESC10_NOTE = "ESC-10 subset: label_id re-indexed 0..9 by ascending ESC-50 target; meta.target keeps it"


def _truthy(v: str) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes")


def _parse_rows(rows: list[dict], col: dict, csv_path: Path, *, esc10: bool) -> list[tuple[dict, int, int, bool]]:
    """``(row, target, fold, is_esc10)`` of the rows kept."""
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
    return parsed


def find_clips(raw_dir: Path, config: PrepareConfig, run_dir: Path) -> ClipList:
    """Read the ESC-50 layout (only the ESC-10 rows with ``config.esc10``).

    Parameters
    ----------
    raw_dir : Path
        Folder holding ``meta/esc50.csv`` and ``audio/``.
    config : PrepareConfig
        ``config.esc10`` keeps the ESC-10 rows, labels re-indexed 0..9.
    run_dir : Path
        Not read.

    Returns
    -------
    clips : ClipList
        One candidate per CSV row kept; audio files without a row are warnings (ignored).
    """
    if not raw_dir.is_dir():
        raise DatasetError(f"esc50: raw folder {str(raw_dir)!r} does not exist")
    csv_path = raw_dir / METADATA
    rows, col = read_csv_columns(csv_path, COLUMNS, what="esc50")
    audio = raw_dir / "audio"
    if not audio.is_dir():
        raise DatasetError(f"esc50: {str(audio)!r} does not exist; expected the clips in audio/")
    parsed = _parse_rows(rows, col, csv_path, esc10=config.esc10)
    remap = {t: k for k, t in enumerate(sorted({t for _, t, _, _ in parsed}))} if config.esc10 else None
    cands = []
    for row, target, fold, is10 in parsed:
        name = row[col["filename"]].strip()
        meta = {"target": target, "esc10": is10}
        for extra in ("src_file", "take"):
            if extra in row:
                meta[extra] = (row[extra] or "").strip()
        if meta.get("src_file"):
            meta["group"] = meta["src_file"]
        cands.append(
            Candidate(
                path=audio / name,
                clip_id=Path(name).stem,
                label=row[col["category"]].strip(),
                label_id=remap[target] if remap else target,
                fold=fold,
                meta=meta,
            )
        )
    clips = ClipList(cands, inputs={"metadata": csv_path}, notes=[ESC10_NOTE] if config.esc10 else [])
    if not config.esc10:
        clips.warnings = unlisted_warnings(
            sorted(audio.iterdir()),
            {real_path(c.path) for c in cands},
            kind="file without a CSV row (ignored)",
            detail=lambda p: f"{p.name} is not listed in {METADATA.as_posix()}",
        )
    return clips


def prepare(raw_dir: str | Path, run_dir: str | Path, *, overwrite: bool = False, **options) -> Path:
    """Prepare ESC-50 (or ESC-10 with ``esc10=True``) into ``run_dir``.

    Parameters
    ----------
    raw_dir : path
        Folder holding ``meta/esc50.csv`` and ``audio/``.
    run_dir : path
    overwrite : bool
        Redo a finished prepare.
    **options
        ``esc10`` and the common :class:`~data_prep.config.PrepareConfig` fields (``cache_srs``, ``strict``,
        ``res_type``).

    Returns
    -------
    manifest : Path
        Its ``clips.jsonl``: 2000 clips (400 for ESC-10) on the official data.
    """
    return prepare_dataset(find_clips, "esc50", raw_dir, run_dir, overwrite=overwrite, **options)


def download(data_home: str | Path) -> Path:
    """Download ESC-50 with soundata into ``data_home`` (needs internet and ``sea[download]``).

    Parameters
    ----------
    data_home : path
        Destination folder; it becomes the ``RAW_DIR`` of ``sea data prepare esc50``.

    Returns
    -------
    data_home : Path
    """
    from .download import soundata_download

    return soundata_download("esc50", data_home, host="github.com", manual_url=MANUAL_URL)
