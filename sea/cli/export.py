"""`sea export`: a trained student -> ONNX / TFLite (fp32, int8) / MCU / Raspberry Pi bundles, with parity and footprint."""

from __future__ import annotations

import argparse


def register(subparsers, name: str, help_text: str) -> None:
    """Add the ``sea export`` command to ``subparsers``."""
    # The export package is imported only here, inside the group, never at `import sea` time;
    # ExportConfig is light (a dataclass), the toolchains load inside export_student.
    from export.config import ExportConfig

    from ..config import add_config_arguments

    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Export a distilled student checkpoint: ONNX fp32 (+int8 with onnxruntime static QDQ), TFLite fp32 "
            "(+full-int8 with litert-torch PT2E), an MCU bundle (C arrays for TFLite Micro) and a Raspberry Pi bundle "
            "(sea_edge.py). Writes frontend.json, parity.json and footprint.json; prints a footprint table."
        ),
    )
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="student checkpoint (RUN/students/<name>/best.pt or its folder)"
    )
    parser.add_argument("-o", "--out-dir", dest="out_dir", required=True, metavar="OUT_DIR", help="output folder")
    parser.add_argument("--config", dest="config", metavar="YAML", help="YAML file with ExportConfig keys")
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it);
    # the student is the CHECKPOINT itself (ExportConfig.student names a run's student for `sea run`)
    add_config_arguments(parser, ExportConfig, exclude=("seed", "student"))
    parser.set_defaults(func=_run_export, group_parser=parser)


def _run_export(args: argparse.Namespace) -> int:
    from export import ExportConfig, export_student

    from ..config import config_from_args

    extra = {"seed": args.seed} if getattr(args, "seed", None) is not None else None
    config = config_from_args(ExportConfig, args, extra=extra)
    result = export_student(args.checkpoint, args.out_dir, config)
    print(f"export written to {result['out_dir']}")
    return 0
