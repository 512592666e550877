"""`sea teacher`: openl3-compatible file embedding and the run's frame-store extraction."""

from __future__ import annotations

import argparse

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


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)

    p = sub.add_parser(
        "embed",
        help="embed audio files to <stem>.npz (openl3 CLI compatible)",
        description=_EMBED_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or directories of audio files")
    p.add_argument(
        "-o", "--output-dir", default=None, metavar="OUTDIR", help="output directory (default: next to each input)"
    )
    p.add_argument("-x", "--suffix", default=None, metavar="SUFFIX", help="append _SUFFIX to output names")
    p.add_argument(
        "--input-repr",
        "-i",
        default="mel256",
        choices=("linear", "mel128", "mel256"),
        help="spectrogram input (default: mel256)",
    )
    p.add_argument(
        "--content-type",
        "-t",
        default="music",
        choices=("env", "music"),
        help="weights trained on env or music (default: music)",
    )
    p.add_argument(
        "--embedding-size",
        "-s",
        type=int,
        default=6144,
        choices=(512, 6144),
        help="embedding dimension (default: 6144)",
    )
    p.add_argument(
        "--hop-size", type=float, default=0.1, metavar="SECONDS", help="hop between 1-s windows (default: 0.1)"
    )
    p.add_argument(
        "--no-centering", dest="center", action="store_false", help="do not pad 0.5 s so timestamps are window centres"
    )
    p.add_argument(
        "--frontend",
        default="kapre",
        choices=("kapre", "librosa", "legacy"),
        help="kapre: openl3 0.4.x default; librosa: openl3's librosa option; legacy: kapre 0.1.4 (openl3<=0.3.1, torchopenl3)",
    )
    p.add_argument("--weights", default=None, metavar="PATH", help="openl3 .h5 weights or a converted .pt")
    p.add_argument(
        "--untrained-teacher",
        dest="untrained",
        action="store_true",
        help="random weights for a dry run (outputs are marked untrained)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass; bounds memory (default: 32)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N (default: cpu)")
    p.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="autocast dtype of the CNN (default: float32; bfloat16/float16 are faster on GPU but not openl3-exact)",
    )
    p.add_argument("--overwrite", action="store_true", help="recompute outputs that already exist")
    p.set_defaults(func=_run_embed)

    help_extract = "embed every frame of a run (clips.jsonl + 48 kHz cache) into RUN_DIR/teacher/<variant>/"
    from ..teacher.extract import add_extract_arguments

    p = sub.add_parser("extract", help=help_extract, description=help_extract)
    add_extract_arguments(p)
    p.set_defaults(func=_run_extract)


def _run_extract(args: argparse.Namespace) -> int:
    from ..teacher.extract import run_extract_command

    return run_extract_command(args)


def _run_embed(args: argparse.Namespace) -> int:
    from ..teacher import embed_files

    outs = embed_files(
        args.inputs,
        output_dir=args.output_dir,
        suffix=args.suffix,
        overwrite=args.overwrite,
        input_repr=args.input_repr,
        content_type=args.content_type,
        embedding_size=args.embedding_size,
        hop_size=args.hop_size,
        center=args.center,
        frontend=args.frontend,
        weights=args.weights,
        untrained=args.untrained,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        verbose=not getattr(args, "quiet", False),
    )
    for out in outs:
        print(out)
    return 0
