"""`sea data`: synthesize, prepare, inspect and download target-domain datasets.

Only ``data_prep.config`` (the flags come from ``PrepareConfig``) is imported while the parser
is built; the stage itself is imported inside the command handlers.
"""

from __future__ import annotations

import argparse

from ._common import add_group

_GROUP_EPILOG = """\
examples:
  sea data synth raw/ --n-clips 200                      # a synthetic UrbanSound8K-layout set
  sea data prepare synthetic runs/synth                   # generate into runs/synth/raw and prepare it
  sea data prepare urbansound8k ~/data/UrbanSound8K runs/us8k
  sea data prepare folder ~/recordings runs/sensors --csv sensors.csv
  sea data info runs/us8k                                # clips per class and fold, durations, skips
  sea data download esc50 ~/data/ESC-50

Run 'sea data COMMAND --help' for a command's options."""

_SYNTH_EPILOG = """\
examples:
  sea data synth raw/                                    # 200 clips, UrbanSound8K layout, seed 0
  sea data synth raw/ --n-clips 50 --seed 3 --duration 2
  sea data synth sonyc/ --layout sonyc_ust --n-clips 120 # annotations.csv with sensors and recording times
  sea data prepare urbansound8k raw/ runs/synth           # then prepare it like the real dataset"""

_PREPARE_DESCRIPTION = """\
Read the raw dataset DATASET from RAW_DIR into the run directory RUN_DIR: decode
each file once, skip (and list with reasons) unreadable, empty, NaN/Inf and
non-audio files, downmix to mono, resample into the audio caches (48 kHz for the
teacher, 8 kHz for the students; kaiser_best, as openl3 and edgel3 do) and write
RUN_DIR/clips.jsonl, RUN_DIR/data_report.json and RUN_DIR/stage.json.

RAW_DIR is the folder the dataset lies in (the UrbanSound8K folder, the
SONYC-UST folder with annotations.csv, the ESC-50 folder, or any folder of audio
for 'folder'). For 'synthetic' RAW_DIR may be left out: the set is generated
into RUN_DIR/raw. A finished prepare with the same config and raw files is not
redone (unless --overwrite); a damaged cache is rebuilt."""

_PREPARE_EPILOG = """\
examples:
  sea data prepare urbansound8k ~/data/UrbanSound8K runs/us8k
  sea data prepare sonyc_ust ~/data/sonyc-ust runs/sonyc          # v2.3, or v1 (detected from the columns)
  sea data prepare esc50 ~/data/ESC-50 runs/esc10 --esc10
  sea data prepare folder ~/recordings runs/mine                  # unlabelled audio
  sea data prepare folder ~/recordings runs/mine --csv sensors.csv  # path,sensor_id,timestamp[,label,...]
  sea data prepare synthetic runs/synth --n-clips 50 --seed 1      # RAW_DIR left out: RUN_DIR/raw
  sea data prepare urbansound8k ~/data/UrbanSound8K runs/us8k --res-type soxr_hq  # faster, not openl3-exact"""

_INFO_EPILOG = """\
examples:
  sea data info runs/us8k
  sea data info runs/us8k --max-skipped 100

The table counts clips per class (rows) and per fold, or per split when the
dataset has no folds (columns); '(clips)' counts each clip once, so its total can
be below the sum of a multi-label dataset's rows."""

_DOWNLOAD_EPILOG = """\
examples:
  sea data download urbansound8k ~/data/UrbanSound8K   # about 6 GB
  sea data download esc50 ~/data/ESC-50
  sea data download sonyc_ust ~/data/sonyc-ust         # v2.3, about 18 GB, md5-checked
  sea data prepare esc50 ~/data/ESC-50 runs/esc50      # then prepare it"""


def _command(sub, name: str, help_text: str, description: str, epilog: str, **kw) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kw,
    )


class _RawAndRunDir(argparse.Action):
    """``[RAW_DIR] RUN_DIR``: two paths, or one for 'synthetic'; anything else is a usage error of the command."""

    def __call__(self, parser, namespace, values, option_string=None):
        dataset = getattr(namespace, "dataset", None)
        if len(values) == 2:
            namespace.raw_dir, namespace.run_dir = values
        elif len(values) == 1 and dataset == "synthetic":
            namespace.raw_dir, namespace.run_dir = "", values[0]
        elif len(values) == 1:
            parser.error(f"{dataset} needs RAW_DIR and RUN_DIR (only 'synthetic' may leave RAW_DIR out)")
        else:
            parser.error(f"expected RAW_DIR RUN_DIR, got {len(values)} paths: {' '.join(values)}")


def register(subparsers, name: str, help_text: str) -> None:
    """Add the ``sea data`` commands (synth, prepare, info, download) to ``subparsers``."""
    sub = add_group(subparsers, name, help_text)
    group = subparsers.choices[name]
    group.epilog, group.formatter_class = _GROUP_EPILOG, argparse.RawDescriptionHelpFormatter
    _add_synth(sub)
    _add_prepare(sub)
    _add_info(sub)
    _add_download(sub)


def _add_synth(sub) -> None:
    p = _command(
        sub,
        "synth",
        "write a deterministic synthetic urban-sound dataset in the real UrbanSound8K / SONYC-UST layout",
        "Generate synthetic urban sounds (10 UrbanSound8K classes over an urban background, varied rates, bit "
        "depths and channels) into OUT_DIR, in the real UrbanSound8K layout (metadata/UrbanSound8K.csv, "
        "audio/foldK/) or the SONYC-UST layout (annotations.csv with sensors and recording times, audio/). "
        "The same arguments give identical files.",
        _SYNTH_EPILOG,
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the raw synthetic dataset into")
    p.add_argument(
        "--layout",
        choices=("urbansound8k", "sonyc_ust"),
        default="urbansound8k",
        help="on-disk layout to imitate, so 'sea data prepare' reads it like the real dataset (default: urbansound8k)",
    )
    p.add_argument("--n-clips", type=int, default=200, metavar="N", help="number of clips (default: 200)")
    # dest differs from the root --seed so the subcommand default cannot clobber 'sea --seed N'
    p.add_argument(
        "--seed",
        dest="synth_seed",
        type=int,
        default=None,
        metavar="SEED",
        help="generator seed (default: root --seed, else 0)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="clip length in s (default: 4 for urbansound8k, 10 for sonyc_ust)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing synthetic set made with other arguments"
    )
    p.set_defaults(func=_run_synth)


def _add_prepare(sub) -> None:
    from data_prep.config import DATASETS, PrepareConfig

    from ..config import add_config_arguments

    p = _command(
        sub,
        "prepare",
        "decode, validate and cache a dataset into a run directory (clips.jsonl, audio/<sr>/, data_report.json)",
        _PREPARE_DESCRIPTION,
        _PREPARE_EPILOG,
        usage="%(prog)s [-h] [options] DATASET [RAW_DIR] RUN_DIR",
    )
    p.add_argument("dataset", metavar="DATASET", choices=DATASETS, help=f"one of: {', '.join(DATASETS)}")
    p.add_argument(
        "paths",
        metavar="[RAW_DIR] RUN_DIR",
        nargs="+",
        action=_RawAndRunDir,
        help="the raw dataset folder (left out for 'synthetic': RUN_DIR/raw), then the run directory to write",
    )
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with PrepareConfig keys")
    # the generator seed is --seed here; its dest differs from the root --seed so that it cannot clobber 'sea --seed N'
    add_config_arguments(p, PrepareConfig, exclude=("dataset", "raw_dir", "synth_seed"))
    seed_help = PrepareConfig.__dataclass_fields__["synth_seed"].metadata["help"]
    p.add_argument("--seed", dest="synth_seed", type=int, default=None, metavar="SEED", help=seed_help)
    p.add_argument("--overwrite", action="store_true", help="redo a prepare that already finished")
    p.set_defaults(func=_run_prepare)


def _add_info(sub) -> None:
    p = _command(
        sub,
        "info",
        "table of a prepared run: counts per class and fold/split, durations, rates, skipped files",
        "Summarise RUN_DIR/data_report.json and RUN_DIR/clips.jsonl: clips per class and fold (or split), "
        "durations, sample rates, channels, subtypes, warnings and the skipped files with their reasons.",
        _INFO_EPILOG,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'sea data prepare'")
    p.add_argument("--max-skipped", type=int, default=20, metavar="N", help="skipped files to list (default: 20)")
    p.set_defaults(func=_run_info)


def _add_download(sub) -> None:
    from data_prep.config import DOWNLOADABLE

    p = _command(
        sub,
        "download",
        "download a public dataset (urbansound8k, esc50 via soundata; sonyc_ust via pooch/Zenodo)",
        "Download DATASET into DIR (needs internet; urbansound8k and esc50 need pip install 'sea[download]'). "
        "Then run 'sea data prepare DATASET DIR RUN_DIR'.",
        _DOWNLOAD_EPILOG,
    )
    p.add_argument("dataset", metavar="DATASET", choices=DOWNLOADABLE, help=f"one of: {', '.join(DOWNLOADABLE)}")
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
    from data_prep.config import GENERATION_FIELDS, PrepareConfig
    from data_prep.stage import run

    from ..config import config_from_args

    extra = {"dataset": args.dataset, "raw_dir": args.raw_dir}
    if args.dataset == "synthetic":
        extra["synth_seed"] = args.synth_seed if args.synth_seed is not None else args.seed
    else:  # the generator's flags are ignored for the other datasets
        args = argparse.Namespace(**{**vars(args), **dict.fromkeys(GENERATION_FIELDS)})
    config = config_from_args(PrepareConfig, args, extra=extra)
    print(run(args.run_dir, config, overwrite=args.overwrite))
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from data_prep.report import info_table

    print(info_table(args.run_dir, max_skipped=args.max_skipped))
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from data_prep import download_dataset

    print(download_dataset(args.dataset, args.dir))
    return 0
