"""Any folder of audio files: unlabeled target-domain audio, or labelled through a CSV.

Dataset card
------------
Layout
    Any folder, searched recursively for ``.wav/.wave/.flac/.ogg/.oga/.aif/.aiff/.aifc/.mp3``
    files (whatever libsndfile can decode). Hidden files and folders are ignored; sidecar files
    (``.csv .txt .json .md .yaml .yml .jams .xml .pdf``) are ignored with a note in the report;
    any other file is **listed as skipped** ("not an audio file extension").
Columns of the optional CSV (``csv=``, read by name)
    ``path, label`` and optionally ``fold`` (int) or ``split`` (train/validate/test). ``path``
    is relative to the folder. An empty label means unlabeled. With a CSV, only its rows are
    clips (audio files not listed are reported as warnings); without one every audio file is an
    **unlabeled target-domain clip** (``label`` None), e.g. sensor recordings -- exactly what SEA
    distills on.
Classes
    From the CSV: ``label_id`` indexes the sorted unique labels.
Licence / citation
    Those of your recordings.

``clip_id`` = path relative to the folder, without extension, with ``/`` replaced by ``__``.
"""

from __future__ import annotations

from pathlib import Path

from .common import (
    AUDIO_EXTENSIONS,
    DEFAULT_CACHE_SRS,
    Candidate,
    make_config,
    parse_int,
    prepare_clips,
    read_csv_columns,
)

__all__ = ["SIDECAR_EXTENSIONS", "load_candidates", "prepare"]

SIDECAR_EXTENSIONS = (".csv", ".txt", ".json", ".md", ".yaml", ".yml", ".jams", ".xml", ".pdf")


def _clip_id(rel: Path) -> str:
    return rel.with_suffix("").as_posix().replace("/", "__")


def _scan(root: Path, exclude: Path | None = None):
    """Audio files, non-audio files and ignored sidecars under ``root`` (hidden entries skipped)."""
    audio, other, sidecars = [], [], []
    exclude = exclude.resolve() if exclude is not None else None
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if exclude is not None and exclude in p.resolve().parents:
            continue  # the run dir may sit inside the folder; its caches are not input
        ext = p.suffix.lower()
        if ext in AUDIO_EXTENSIONS:
            audio.append(p)
        elif ext in SIDECAR_EXTENSIONS:
            sidecars.append(p)
        else:
            other.append(p)
    return audio, other, sidecars


def load_candidates(raw_dir: str | Path, *, csv: str | Path | None = None, exclude: str | Path | None = None):
    """Parse a folder (and optional CSV); returns (candidates, skipped, warnings, notes, inputs)."""
    from sea.errors import DatasetError
    from sea.manifest import VALID_SPLITS

    root = Path(raw_dir)
    if not root.is_dir():
        raise DatasetError(f"folder: {str(root)!r} is not a folder; pass the folder that holds your audio files")
    audio, other, sidecars = _scan(root, Path(exclude) if exclude is not None else None)
    skipped = [
        {
            "clip_id": None,
            "path": str(p),
            "reason": "not an audio file extension",
            "detail": f"{p.name}: extension {p.suffix or '(none)'!r} is not one of {', '.join(AUDIO_EXTENSIONS)}",
        }
        for p in other
    ]
    notes, warns, inputs = [], [], {}
    csv_path = None
    if csv is not None:
        csv_path = Path(csv)
        if not csv_path.is_absolute():
            csv_path = root / csv_path
        inputs["labels"] = csv_path
    ignored = [p for p in sidecars if csv_path is None or p.resolve() != csv_path.resolve()]
    if ignored:
        names = ", ".join(p.relative_to(root).as_posix() for p in ignored[:5]) + (", ..." if len(ignored) > 5 else "")
        notes.append(f"ignored {len(ignored)} sidecar file(s): {names}")
        if csv_path is None and any(p.suffix.lower() == ".csv" for p in ignored):
            notes.append("a CSV was found but not used; pass csv=PATH (--csv) to read labels from it")

    if csv_path is None:
        cands = [Candidate(path=p, clip_id=_clip_id(p.relative_to(root))) for p in audio]
        _dedupe(cands, root)
        return cands, skipped, warns, notes, inputs

    rows, col = read_csv_columns(csv_path, ("path", "label"), what="folder")
    header = set(rows[0].keys()) if rows else set()
    has_fold, has_split = "fold" in header, "split" in header
    labels = sorted({(r[col["label"]] or "").strip() for r in rows} - {""})
    label_ids = {lab: k for k, lab in enumerate(labels)}
    cands, listed = [], set()
    for i, row in enumerate(rows, start=2):
        rel = (row[col["path"]] or "").strip()
        if not rel:
            raise DatasetError(f"{str(csv_path)!r} row {i}: empty path")
        p = root / rel
        listed.add(p.resolve())
        lab = (row[col["label"]] or "").strip() or None
        fold = split = None
        if has_fold and (row.get("fold") or "").strip():
            fold = parse_int(row["fold"], column="fold", path=csv_path, row=i)
        if has_split and (row.get("split") or "").strip():
            split = row["split"].strip()
            if split not in VALID_SPLITS:
                raise DatasetError(
                    f"{str(csv_path)!r} row {i}: split={split!r} must be one of {', '.join(VALID_SPLITS)} or empty"
                )
        cands.append(
            Candidate(
                path=p,
                clip_id=_clip_id(Path(rel)),
                label=lab,
                label_id=label_ids[lab] if lab is not None else None,
                fold=fold,
                split=split,
            )
        )
    _dedupe(cands, root)
    for p in audio:
        if p.resolve() not in listed:
            warns.append(
                {
                    "clip_id": None,
                    "path": str(p),
                    "kind": "audio file not in the CSV (ignored)",
                    "detail": f"{p.relative_to(root).as_posix()} has no row in {csv_path.name}",
                }
            )
    return cands, skipped, warns, notes, inputs


def _dedupe(cands: list[Candidate], root: Path) -> None:
    """a.wav and a.flac would share an id; keep the extension for those."""
    from collections import Counter

    n = Counter(c.clip_id for c in cands)
    for c in cands:
        if n[c.clip_id] > 1:
            c.clip_id = c.clip_id + "." + Path(c.path).suffix.lstrip(".").lower()


def prepare(
    raw_dir: str | Path,
    run_dir: str | Path,
    *,
    cache_srs=DEFAULT_CACHE_SRS,
    strict: bool = False,
    overwrite: bool = False,
    csv: str | Path | None = None,
    **options,
) -> Path:
    """Prepare a folder of audio (optionally labelled by ``csv``) into ``run_dir``; returns the manifest path."""
    config = make_config(
        "folder", raw_dir, cache_srs=cache_srs, strict=strict, csv=None if csv is None else str(csv), **options
    )
    cands, skipped, warns, notes, inputs = load_candidates(raw_dir, csv=csv, exclude=run_dir)
    extra = [Path(s["path"]) for s in skipped] + [Path(w["path"]) for w in warns]
    return prepare_clips(
        cands,
        run_dir,
        config,
        inputs=inputs,
        overwrite=overwrite,
        skipped=skipped,
        warnings_=warns,
        notes=notes,
        extra_fingerprint=extra,
    )
