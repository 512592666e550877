"""`sea teacher`: openl3-compatible file embedding and the run's frame-store extraction."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..config import add_config_arguments, config_from_args, config_to_dict
from ..teacher.config import EmbedConfig, ExtractConfig
from ._common import add_group

_EMBED_DESCRIPTION = """\
Embed audio files with OpenL3 exactly as 'openl3' 0.4.2 does (same defaults,
preprocessing, resampler, timestamps and output files): each FILE becomes
OUTDIR/<stem>.npz (or <stem>_<SUFFIX>.npz) with 'embedding' (T, D) float32 and
'timestamps' (T,) float64, plus 'sea_teacher_variant', 'untrained' and
'sea_teacher' (the teacher's identity, JSON) metadata.
openl3's command line works as typed: the 'audio' modality word, its long and
short options (-o -x -i -c -as -t -ab -af -n -ow -q) and their defaults.
Directories are searched recursively for audio files. Existing outputs are
skipped unless --overwrite. Unreadable files are listed at the end (exit 1);
the others are embedded.

Weights: --weights PATH (.h5 from openl3 or a converted .pt), else the .h5 of
an installed openl3 package, else the cache ($SEA_CACHE_DIR/openl3 or
~/.cache/sea/openl3), else a download from github.com/marl/openl3 (models
branch). --untrained-teacher uses random weights for dry runs.
"""
_EMBED_EPILOG = """\
examples:
  sea teacher embed audio clip.wav                     # openl3's defaults: mel256, music, 6144, hop 0.1
  sea teacher embed audio a.wav b.flac -o out/ --suffix l3 --audio-embedding-size 512 \\
      --no-audio-centering --audio-hop-size 0.5 --audio-batch-size 16 --audio-frontend kapre
  sea teacher embed audio sounds/ -i mel128 -c env -as 512 -t 0.5 -ow -q
  sea teacher embed clip.wav --untrained-teacher -o /tmp/dry   # offline dry run, random weights
"""
_EXTRACT_HELP = "embed every frame of a run (clips.jsonl + 48 kHz cache) into RUN_DIR/teacher/<variant>/"


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)
    p = sub.add_parser(
        "embed",
        help="embed audio files to <stem>.npz (openl3 CLI compatible)",
        description=_EMBED_DESCRIPTION,
        epilog=_EMBED_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_embed_arguments(p)
    p.set_defaults(func=_run_embed)
    p = sub.add_parser("extract", help=_EXTRACT_HELP, description=_EXTRACT_HELP)
    _add_extract_arguments(p)
    p.set_defaults(func=_run_extract)


def _add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    """[audio] FILE_OR_DIR..., the EmbedConfig flags with openl3's spellings, and openl3's switches."""
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or directories of audio files "
                        "(openl3's modality word 'audio' may come first)")  # fmt: skip
    group = add_config_arguments(parser, EmbedConfig, exclude=("center", "untrained"),
                                 title="openl3 options")  # fmt: skip
    group.add_argument(
        "--no-audio-centering",
        "--no-centering",
        "-n",
        dest="center",
        action="store_const",
        const=False,
        default=None,
        help="do not pad 0.5 s at the start (timestamps are window starts)",
    )
    group.add_argument("--overwrite", "-ow", action="store_true", help="recompute outputs that already exist")
    group.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress messages")
    own = parser.add_argument_group("sea options")
    own.add_argument(
        "--untrained-teacher",
        dest="untrained",
        action="store_const",
        const=True,
        default=None,
        help="random weights for an offline dry run (outputs are marked untrained)",
    )
    own.add_argument(
        "--teacher",
        metavar="FAMILY[:NAME]",
        default=None,
        help="another teacher of the registry, "
        "e.g. edgel3:sea_ust_64 (with --weights), birdnet, openl3:mel128_env_512; its own rate, window "
        "and default hop; the .npz layout stays openl3's (default: OpenL3 from the options above)",
    )


def _embed_inputs(args: argparse.Namespace) -> list[str]:
    """The input paths, without openl3's modality word; other modalities are a usage error (exit 2)."""
    inputs = list(args.inputs)
    if inputs[0] in ("image", "video"):
        args.command_parser.error(f"sea embeds audio only: openl3's {inputs[0]!r} modality is not supported")
    if inputs[0] == "audio" and (len(inputs) > 1 or not Path("audio").exists()):
        inputs = inputs[1:]
    if not inputs:
        args.command_parser.error("the following arguments are required: FILE_OR_DIR")
    return inputs


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
    from ..teacher.core import embed_report

    inputs = _embed_inputs(args)
    config, model = _teacher(args, config_from_args(EmbedConfig, args))
    quiet = getattr(args, "quiet", False)
    report = embed_report(inputs, overwrite=args.overwrite, verbose=not quiet, model=model, **config_to_dict(config))
    for out in report.written:
        print(out)
    if report.failed or (report.skipped and not quiet):
        print(report.summary(), file=sys.stderr)
    return report.exit_code


def _teacher(args: argparse.Namespace, config: EmbedConfig):
    """``(config, model)`` for ``--teacher``: an openl3 variant sets the openl3 options (model None); another family
    is loaded from the registry, with its default hop unless --hop-size was given."""
    if not args.teacher:
        return config, None
    from ..teacher.registry import load_teacher_model, teacher_values

    values = teacher_values({"model": args.teacher, "weights": config.weights, "untrained": config.untrained})
    if values["model"] == "openl3":
        keys = ("input_repr", "content_type", "embedding_size", "frontend")
        return dataclasses.replace(config, **{k: values[k] for k in keys if values[k] is not None}), None
    model, spec = load_teacher_model(values, device=config.device)
    return (config if args.hop_size is not None else dataclasses.replace(config, hop_size=spec.hop_size)), model


def _run_extract(args: argparse.Namespace) -> int:
    from ..teacher import stage

    extra = {"seed": args.seed} if getattr(args, "seed", None) is not None else None
    config = config_from_args(ExtractConfig, args, extra=extra)
    print(stage.store_summary(stage.run(args.run_dir, config, overwrite=bool(getattr(args, "overwrite", False)))))
    return 0
