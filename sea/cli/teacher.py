"""`sea teacher`: openl3-compatible file embedding and the run's frame-store extraction."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from ..config import add_config_arguments, config_from_args
from ..teacher.config import EmbedConfig, ExtractConfig
from ._common import add_group

_EMBED_DESCRIPTION = """\
Embed audio files with OpenL3 exactly as 'openl3' 0.4.x does (same defaults,
preprocessing, timestamps and output files): each FILE becomes
OUTDIR/<stem>.npz (or <stem>_<SUFFIX>.npz) with 'embedding' (T, D) float32 and
'timestamps' (T,) float64, plus 'sea_teacher_variant' and 'untrained' metadata.
Directories are searched recursively for audio files. Existing outputs are
skipped unless --overwrite.

Weights: --weights PATH (.h5 from openl3 or a converted .pt), else the .h5 of
an installed openl3 package, else the cache ($SEA_CACHE_DIR/openl3 or
~/.cache/sea/openl3), else a download from github.com/marl/openl3 (models
branch). --untrained-teacher uses random weights for dry runs.
"""
_EXTRACT_HELP = "embed every frame of a run (clips.jsonl + 48 kHz cache) into RUN_DIR/teacher/<variant>/"


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)
    p = sub.add_parser(
        "embed",
        help="embed audio files to <stem>.npz (openl3 CLI compatible)",
        description=_EMBED_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_embed_arguments(p)
    p.set_defaults(func=_run_embed)
    p = sub.add_parser("extract", help=_EXTRACT_HELP, description=_EXTRACT_HELP)
    _add_extract_arguments(p)
    p.set_defaults(func=_run_extract)


def _add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE_OR_DIR..., --overwrite and the EmbedConfig flags, with openl3's short options and boolean flags."""
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or directories of audio files")
    add_config_arguments(parser, EmbedConfig, exclude=("center", "untrained"))
    parser._action_groups[-1].title = "openl3 options"  # embed reads no --config file, unlike the default title says
    hints = typing.get_type_hints(EmbedConfig)
    for f in dataclasses.fields(EmbedConfig):
        if "short" in f.metadata:  # openl3's short option, as another spelling of the field's flag
            choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is typing.Literal else None
            parser.add_argument(f.metadata["short"], dest=f.name, default=None, choices=choices, help=argparse.SUPPRESS)
    # openl3's spellings of the two boolean options (each sets the field only when given)
    parser.add_argument(
        "--no-centering", dest="center", action="store_const", const=False, default=None,
        help="do not pad 0.5 s so timestamps are window centres",
    )  # fmt: skip
    parser.add_argument(
        "--untrained-teacher", dest="untrained", action="store_const", const=True, default=None,
        help="random weights for a dry run (outputs are marked untrained)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="recompute outputs that already exist")


def _add_extract_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR, --config, --overwrite and one flag per ExtractConfig field.

    ``seed`` comes from the root ``sea --seed`` (a subcommand flag of the same dest would clobber it).
    """
    parser.add_argument("run_dir", metavar="RUN_DIR", help="prepared run directory (clips.jsonl + audio/48000 cache)")
    parser.add_argument("--config", metavar="YAML", default=None, help="YAML file with ExtractConfig keys")
    parser.add_argument(
        "--overwrite", action="store_true", help="re-embed everything even if a finished store or finished shards match"
    )
    add_config_arguments(parser, ExtractConfig, exclude=("seed",))


def _run_embed(args: argparse.Namespace) -> int:
    from ..teacher import stage

    config = config_from_args(EmbedConfig, args)
    for out in stage.embed(args.inputs, config, overwrite=args.overwrite, verbose=not getattr(args, "quiet", False)):
        print(out)
    return 0


def _run_extract(args: argparse.Namespace) -> int:
    from ..teacher import stage

    extra = {"seed": args.seed} if getattr(args, "seed", None) is not None else None
    config = config_from_args(ExtractConfig, args, extra=extra)
    print(stage.store_summary(stage.run(args.run_dir, config, overwrite=bool(getattr(args, "overwrite", False)))))
    return 0
