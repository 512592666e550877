"""`sea data`: synthesize, prepare, inspect and download target-domain datasets.

Only ``data_prep.config`` (the flags come from ``PrepareConfig``) is imported while the parser
is built; the stage itself is imported inside the command handlers.
"""

from __future__ import annotations

import argparse

from ._common import add_group


def register(subparsers, name: str, help_text: str) -> None:
    """Add the ``sea data`` commands (synth, prepare, info, download) to ``subparsers``."""
    from data_prep.config import DATASETS, DOWNLOADABLE, PrepareConfig

    from ..config import add_config_arguments

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
    # the generator seed is --seed here; its dest differs from the root --seed so that it cannot clobber 'sea --seed N'
    add_config_arguments(p, PrepareConfig, exclude=("dataset", "raw_dir", "synth_seed"))
    seed_help = PrepareConfig.__dataclass_fields__["synth_seed"].metadata["help"]
    p.add_argument("--seed", dest="synth_seed", type=int, default=None, help=seed_help)
    p.add_argument("--overwrite", action="store_true", help="redo a prepare that already finished")
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
        choices=DOWNLOADABLE,
        help=f"one of: {', '.join(DOWNLOADABLE)}",
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


def _raw_and_run_dir(args: argparse.Namespace) -> tuple[str, str]:
    """RAW_DIR and RUN_DIR from the positional paths ('synthetic' may omit RAW_DIR: empty)."""
    from ..errors import ConfigError

    paths = list(args.paths)
    if len(paths) > 2:
        raise ConfigError(f"'sea data prepare {args.dataset}' takes RAW_DIR RUN_DIR, got {len(paths)} paths: {paths}")
    if len(paths) == 2:
        return paths[0], paths[1]
    if args.dataset != "synthetic":
        raise ConfigError(
            f"'sea data prepare {args.dataset}' needs RAW_DIR and RUN_DIR; only 'synthetic' may omit RAW_DIR"
        )
    return "", paths[0]


def _run_prepare(args: argparse.Namespace) -> int:
    from data_prep.config import GENERATION_FIELDS, PrepareConfig
    from data_prep.stage import run

    from ..config import config_from_args

    raw_dir, run_dir = _raw_and_run_dir(args)
    extra = {"dataset": args.dataset, "raw_dir": raw_dir}
    if args.dataset == "synthetic":
        extra["synth_seed"] = args.synth_seed if args.synth_seed is not None else args.seed
    else:  # the generator's flags are ignored for the other datasets
        args = argparse.Namespace(**{**vars(args), **dict.fromkeys(GENERATION_FIELDS)})
    config = config_from_args(PrepareConfig, args, extra=extra)
    print(run(run_dir, config, overwrite=args.overwrite))
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from data_prep.report import info_table

    print(info_table(args.run_dir, max_skipped=args.max_skipped))
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from data_prep import download_dataset

    print(download_dataset(args.dataset, args.dir))
    return 0
