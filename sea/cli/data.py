"""`sea data`: synthesize, prepare, inspect and download target-domain datasets.

``data_prep`` is imported inside the command handlers only, so ``sea --help`` and the other
groups never import it.
"""

from __future__ import annotations

import argparse

from ._common import add_group

DATASETS = ("urbansound8k", "sonyc_ust", "esc50", "folder", "synthetic")


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)

    p = sub.add_parser(
        "synth",
        help="write a deterministic synthetic urban-sound dataset in the real UrbanSound8K / SONYC-UST layout",
        description=(
            "Generate synthetic urban sounds (10 UrbanSound8K classes over an urban background, varied rates, "
            "bit depths and channels) into OUT_DIR, in the real UrbanSound8K layout (metadata/UrbanSound8K.csv, "
            "audio/foldK/) or the SONYC-UST layout (annotations.csv, audio/). The same seed gives identical files."
        ),
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the raw synthetic dataset into")
    p.add_argument(
        "--layout",
        choices=("urbansound8k", "sonyc_ust"),
        default="urbansound8k",
        help="on-disk layout to imitate, so 'sea data prepare' reads it like the real dataset (default: urbansound8k)",
    )
    p.add_argument("--n-clips", type=int, default=200, help="number of clips (default: 200)")
    # dest differs from the root --seed so the subcommand default cannot clobber 'sea --seed N'
    p.add_argument(
        "--seed", dest="synth_seed", type=int, default=None, help="generator seed (default: root --seed or 0)"
    )
    p.add_argument("--duration", type=float, default=None, help="clip length in s (default: 4 for US8K, 10 for SONYC)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing synthetic set made with other arguments"
    )
    p.set_defaults(func=_run_synth)

    p = sub.add_parser(
        "prepare",
        help="decode, validate and cache a dataset into a run directory (clips.jsonl, audio/<sr>/, data_report.json)",
        description=(
            "Read a raw dataset, decode each file once, skip (and list with reasons) unreadable, empty, NaN/Inf or "
            "non-audio files, downmix to mono, resample into the audio caches and write RUN_DIR/clips.jsonl, "
            "RUN_DIR/data_report.json and RUN_DIR/stage.json. For 'synthetic', RAW_DIR may be omitted: the set "
            "is generated into RUN_DIR/raw (or into RAW_DIR) and read with the urbansound8k loader."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", choices=DATASETS, help=f"one of: {', '.join(DATASETS)}")
    p.add_argument("paths", metavar="RAW_DIR RUN_DIR", nargs="+", help="raw dataset folder and output run directory")
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with PrepareConfig keys")
    p.add_argument("--cache-srs", dest="cache_srs", metavar="A,B,...", default=None,
                   help="audio cache rates (default: 48000,8000)")  # fmt: skip
    p.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                   help="fail listing every skipped file instead of skipping it (default: off)")  # fmt: skip
    p.add_argument("--res-type", dest="res_type", choices=("soxr_vhq", "soxr_hq", "kaiser_best"), default=None,
                   help="resampler (default: soxr_vhq)")  # fmt: skip
    p.add_argument("--esc10", action=argparse.BooleanOptionalAction, default=None,
                   help="esc50: keep only the ESC-10 subset, label ids re-indexed 0..9")  # fmt: skip
    p.add_argument("--csv", default=None, help="folder: CSV with path,label[,fold|split] (path relative to RAW_DIR)")
    p.add_argument("--overwrite", action="store_true", help="redo a prepare that already finished")
    p.add_argument("--n-clips", type=int, default=None, help="synthetic: number of clips (default: 200)")
    p.add_argument("--seed", dest="synth_seed", type=int, default=None, help="synthetic: generator seed (default: 0)")
    p.add_argument("--duration", type=float, default=None, help="synthetic: clip length in s (default: 4)")
    p.set_defaults(func=_run_prepare)

    p = sub.add_parser(
        "info",
        help="table of a prepared run: counts per class and fold/split, durations, rates, skipped files",
        description="Summarise RUN_DIR/data_report.json and RUN_DIR/clips.jsonl.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'sea data prepare'")
    p.add_argument("--max-skipped", type=int, default=20, help="skipped files to list (default: 20)")
    p.set_defaults(func=_run_info)

    p = sub.add_parser(
        "download",
        help="download a public dataset (urbansound8k, esc50 via soundata; sonyc_ust via pooch/Zenodo)",
        description=(
            "Download DATASET into DIR (needs internet; urbansound8k and esc50 need pip install 'sea[download]'). "
            "Then run 'sea data prepare DATASET DIR RUN_DIR'."
        ),
    )
    p.add_argument(
        "dataset",
        metavar="DATASET",
        choices=("urbansound8k", "sonyc_ust", "esc50"),
        help="one of: urbansound8k, sonyc_ust, esc50",
    )
    p.add_argument("dir", metavar="DIR", help="folder to download and unpack into (the RAW_DIR of 'sea data prepare')")
    p.set_defaults(func=_run_download)


def _seed(args: argparse.Namespace) -> int:
    if args.synth_seed is not None:
        return args.synth_seed
    return args.seed if getattr(args, "seed", None) is not None else 0


def _run_synth(args: argparse.Namespace) -> int:
    from data_prep.synthetic import generate

    out = generate(
        args.out_dir,
        layout=args.layout,
        n_clips=args.n_clips,
        seed=_seed(args),
        duration=args.duration,
        overwrite=args.overwrite,
    )
    print(out)
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    from data_prep import prepare_from_config
    from data_prep.common import PrepareConfig

    from ..config import load_config
    from ..errors import ConfigError

    paths = list(args.paths)
    if len(paths) > 2:
        raise ConfigError(f"'sea data prepare {args.dataset}' takes RAW_DIR RUN_DIR, got {len(paths)} paths: {paths}")
    if len(paths) == 1:
        if args.dataset != "synthetic":
            raise ConfigError(
                f"'sea data prepare {args.dataset}' needs RAW_DIR and RUN_DIR; only 'synthetic' may omit RAW_DIR"
            )
        raw_dir, run_dir = "", paths[0]
    else:
        raw_dir, run_dir = paths
    overrides = {
        "dataset": args.dataset,
        "raw_dir": raw_dir,
        "cache_srs": args.cache_srs,
        "strict": args.strict,
        "res_type": args.res_type,
        "esc10": args.esc10,
        "csv": args.csv,
    }
    config = load_config(PrepareConfig, args.config, overrides)
    extra = {}
    if args.dataset == "synthetic":
        seed = args.synth_seed if args.synth_seed is not None else args.seed
        extra = {"n_clips": args.n_clips, "seed": seed, "duration": args.duration}
    manifest = prepare_from_config(config, run_dir, overwrite=args.overwrite, **extra)
    print(manifest)
    return 0


def _table(header: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _run_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ManifestError
    from ..manifest import read_manifest
    from ..utils import read_json

    run_dir = Path(args.run_dir)
    records = read_manifest(run_dir)
    report_path = run_dir / "data_report.json"
    if not report_path.is_file():
        raise ManifestError(f"no data_report.json in {str(run_dir)!r}; run 'sea data prepare' to build it")
    rep = read_json(report_path)
    print(f"dataset {rep.get('dataset')}  raw {rep.get('raw_dir')}")
    print(
        f"{rep['n_clips']} clips ({rep.get('n_labeled', '?')} labeled), {rep['n_skipped']} skipped, "
        f"caches {', '.join(map(str, rep.get('cache_srs', [])))} Hz"
    )
    d = rep["duration"]
    print(
        f"duration (s): min {d['min']:.3f}  mean {d['mean']:.3f}  max {d['max']:.3f}  "
        f"total {d['total']:.1f} ({d['total'] / 3600:.2f} h)"
    )
    print()
    by_fold, by_split = rep.get("class_by_fold") or {}, rep.get("class_by_split") or {}
    groups, key = (rep.get("folds") or {}, by_fold) if by_fold else (rep.get("splits") or {}, by_split)
    group_names = list(groups)
    header = ["class", *(f"fold{g}" if by_fold else g for g in group_names), "total"]
    rows = [[c, *(key.get(c, {}).get(g, 0) for g in group_names), n] for c, n in rep["classes"].items()]
    if group_names:
        rows.append(["(clips)", *(groups[g] for g in group_names), rep["n_clips"]])
    print(_table(header, rows))
    print()
    for title, k in (("sample rates", "sample_rates"), ("channels", "channels"), ("subtypes", "subtypes")):
        vals = rep.get(k) or {}
        print(f"{title}: " + ", ".join(f"{v}x {n}" for n, v in vals.items()))
    if rep.get("warning_counts"):
        print("warnings: " + ", ".join(f"{k}: {v}" for k, v in rep["warning_counts"].items()))
    for note in rep.get("notes") or []:
        print(f"note: {note}")
    skipped = rep.get("skipped") or []
    if skipped:
        print()
        print(f"skipped files ({len(skipped)}):")
        for s in skipped[: args.max_skipped]:
            print(f"  {s['path']}: {s['reason']}")
        if len(skipped) > args.max_skipped:
            print(f"  ... {len(skipped) - args.max_skipped} more in {report_path}")
    if len(records) != rep["n_clips"]:
        print(f"warning: clips.jsonl has {len(records)} clips but the report says {rep['n_clips']}")
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from data_prep import download_dataset

    print(download_dataset(args.dataset, args.dir))
    return 0
