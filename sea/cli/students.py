"""`sea students`: list and inspect the student architectures; embed audio with the published SEA students."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import add_group

_EMBED_DESCRIPTION = """\
Embed audio files with a published SEA student exactly as edgel3 0.2.1 does
(model_type='sea': resampling to 8 kHz with resampy's kaiser_best, 1-s windows,
centring, padding, timestamps): each FILE becomes OUTDIR/<stem>.npz (or
<stem>_<SUFFIX>.npz) with 'embedding' (T, D) float32 and 'timestamps' (T,)
float64. Directories are searched recursively. Existing outputs are skipped
unless --overwrite. Bad files are listed at the end (exit status 1); the good
ones are embedded.

Weights: --weights PATH (edgel3's edgel3_sea_ust_audio_emb_<D>.h5 or .h5.gz),
else the cache ($SEA_CACHE_DIR/edgel3 or ~/.cache/sea/edgel3), else a download
from edgel3's models branch on GitHub (pinned by git blob id).

edgel3's own flags work too: --model-type sea --emb-dim 64, --output-dir,
-x/--suffix, -n/--no-centering, -t/--hop-size, -q/--quiet (the sparse EdgeL3
models, --model-type sparse, are not supported)."""

_EMBED_EPILOG = """\
examples:
  sea students embed street.wav -o emb/                       (emb/street.npz, sea_ust_64)
  sea students embed recordings/ -o emb/ --hop-size 0.5 --no-centering
  sea students embed a.wav --model sea_ust_64 --weights edgel3_sea_ust_audio_emb_64.h5.gz -x sea
  sea students embed a.wav --output /different/dir --suffix somesuffix --model-type sea --emb-dim 64 \\
      --no-centering --hop-size 0.5 --quiet                   (edgel3's command line, unchanged)"""


def _run_list(args: argparse.Namespace) -> int:
    from .. import students

    rows = students.student_cost_table(args.pattern, window_size=args.window_size)
    if not rows:
        from ..errors import ConfigError

        raise ConfigError(
            f"no student matches --pattern {args.pattern!r}; available: {', '.join(students.list_students())}"
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(students.format_cost_table(rows))
        print(
            f"MACs: conv + linear multiply-accumulates per {args.window_size:g}-s window (front-end excluded); "
            "peak act: live-tensor sum"
        )
    return 0


def _parse_kwargs(items: list[str] | None) -> dict:
    from ..errors import ConfigError

    kwargs = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--arg {item!r} must look like KEY=VALUE (VALUE parsed as JSON, e.g. out_dim=128)")
        k, v = item.split("=", 1)
        try:
            kwargs[k] = json.loads(v)
        except json.JSONDecodeError:
            kwargs[k] = v
    return kwargs


def _run_show(args: argparse.Namespace) -> int:
    from .. import students

    kwargs = _parse_kwargs(args.arg)
    if args.window_size != 1.0 and "input_shape" not in kwargs:
        from ..students.frontend import frontend_params

        kwargs["input_shape"] = frontend_params(args.window_size)["output_shape"]
    model = students.create(args.name, **kwargs)
    if args.json:
        cost = students.model_cost(model, model.input_shape)
        rows = students.layer_summary(model, model.input_shape)
        print(json.dumps({"name": args.name, "model_args": model.model_args, "cost": cost, "layers": rows}, indent=2))
    else:
        print(students.format_layer_summary(args.name, students.student_description(args.name), model))
    return 0


def _run_embed(args: argparse.Namespace) -> int:
    from ..students import embed_files

    report = embed_files(
        args.inputs, args.output_dir, suffix=args.suffix, model=args.model, weights=args.weights,
        hop_size=args.hop_size, center=not args.no_centering, batch_size=args.batch_size, overwrite=args.overwrite,
        model_type=args.model_type, emb_dim=args.emb_dim,
    )  # fmt: skip
    quiet = bool(getattr(args, "quiet", False))
    for path in [] if quiet else report.written:
        print(path)
    if report.failed or not quiet:
        print(report.summary(), file=sys.stderr if report.failed else sys.stdout)
    return report.exit_code


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive, finite number of seconds (e.g. 0.1)")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


#: sea.students.published.PUBLISHED's names, spelled here so that building the parser imports no torch.
PUBLISHED_NAMES = ("sea_ust_64", "sea_ust_128", "sea_ust_256", "sea_ust_512")


def _add_embed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files or directories of audio files")
    p.add_argument("-o", "--output-dir", "--output", dest="output_dir", metavar="OUTDIR", default=None,
                   help="output folder (default: beside each input)")  # fmt: skip
    p.add_argument("--model", choices=PUBLISHED_NAMES, default="sea_ust_64",
                   help="published SEA student: edgel3's model_type='sea', emb_dim=D (default: %(default)s)")  # fmt: skip
    p.add_argument("--weights", metavar="PATH", default=None, help="edgel3's .h5 or .h5.gz file of that model")
    p.add_argument("-t", "--hop-size", type=_positive_float, default=0.1, metavar="S",
                   help="seconds between windows (default: %(default)s)")  # fmt: skip
    p.add_argument("-n", "--no-centering", action="store_true",
                   help="no half-window padding at the start: timestamps are window starts, not centres")  # fmt: skip
    p.add_argument("-x", "--suffix", default=None, help="write <stem>_<SUFFIX>.npz")
    p.add_argument("--batch-size", type=_positive_int, default=32, metavar="N",
                   help="windows per forward pass (default: %(default)s)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="recompute outputs that already exist")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print only errors (same as 'sea -q')")  # fmt: skip
    compat = p.add_argument_group("edgel3 spellings (instead of --model)")
    compat.add_argument("-mtype", "--model-type", dest="model_type", choices=("sea", "sparse"), default=None,
                        help="'sea' (the published SEA students); 'sparse' is not supported")  # fmt: skip
    compat.add_argument("-e", "--emb-dim", dest="emb_dim", type=int, choices=(512, 256, 128, 64), default=None,
                        help="embedding size of the SEA student: picks sea_ust_<EMB_DIM>")  # fmt: skip
    compat.add_argument("-retrain", "--retrain-type", choices=("ft", "kd"), default=None, help=argparse.SUPPRESS)
    compat.add_argument("-sp", "--model-sparsity", type=float, default=None, help=argparse.SUPPRESS)


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)
    p = sub.add_parser(
        "list",
        help="table of students: params, MACs per window, peak activation and weight bytes",
        description="List registered students with params, MACs per window (1 s unless --window-size), peak activation memory "
        "(int8 and fp32 bytes, live-tensor sum), int8 weight bytes, input shape and output dim.",
    )
    p.add_argument("--pattern", default="*", help="glob on student names (default: all), e.g. 'sea_mcu_*'")
    p.add_argument("--window-size", type=_positive_float, default=1.0, metavar="S",
                   help="window in seconds the students see: 1 for OpenL3/edgel3, 3 for BirdNET (default: 1)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_list)

    p = sub.add_parser(
        "show", help="layer-by-layer summary of one student", description="Layer-by-layer summary of one student."
    )
    p.add_argument("name", help="registered student name (see 'sea students list')")
    p.add_argument(
        "--arg", action="append", metavar="KEY=VALUE", help="student option, repeatable (e.g. --arg out_dim=128)"
    )
    p.add_argument("--window-size", type=_positive_float, default=1.0, metavar="S",
                   help="window in seconds: the student is built for its mel frames (default: 1)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_show)

    p = sub.add_parser(
        "embed",
        help="embed audio files with a published SEA student (edgel3-compatible <stem>.npz)",
        description=_EMBED_DESCRIPTION,
        epilog=_EMBED_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_embed_arguments(p)
    p.set_defaults(func=_run_embed)
