"""`sea export`: a trained student (or a published SEA student) -> ONNX / TFLite / MCU / firmware / Pi bundles, and
`sea export check-firmware`: the generated firmware built, run and compared with TFLite."""

from __future__ import annotations

import argparse

EXPORT_EPILOG = """\
examples:
  sea export runs/quickstart/students/sea_mcu_s/best.pt -o exports/sea_mcu_s
      every format; int8 (needed by mcu and firmware) calibrated on the checkpoint's own run
  sea export runs/quickstart/students/sea_mcu_s -o exports/onnx --formats onnx,pi --no-int8
  sea export sea_ust_64 -o exports/sea_ust_64 --calibration ../shared/data/us8k_fold10_sample/UrbanSound8K/audio
      the SEA paper's published student (edgel3), calibrated on a folder of real recordings
  sea export --published sea_ust_64 --weights edgel3_sea_ust_audio_emb_64.h5.gz -o OUT --calibration RUN
  sea export check-firmware exports/sea_mcu_s clip.wav more_audio/ --target all --out emb/

int8 follows the formats: mcu and firmware run full-int8 models, so int8 is built whenever they are asked for
(and they are skipped, with a warning, when there is nothing to calibrate on); --no-int8 skips them.
A run's export ('sea run') lands in RUN/export/<student>/ and is redone only when its inputs or settings change.
"""

CHECK_EPILOG = """\
examples:
  sea export check-firmware runs/quickstart/export/sea_mcu_s clip.wav
  sea export check-firmware runs/quickstart/export/sea_mcu_s recordings/ --target all --out emb/ --hop-size 0.5

Writes OUT/<stem>.npy (dequantised float32 (T, D)) and OUT/<stem>_timestamps.npy (window centres, s), the Pi
runner's --out layout, and EXPORT_DIR/firmware/check.json. Exit 1 when a file cannot be read (the others are
checked and the bad ones listed) or a run target is not bit-exact with ai-edge-litert / more than 1 LSB off.
Cortex-M targets need: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
"""

MODEL_COMMAND = "model"  # the unnamed default: `sea export SOURCE -o OUT`
DESCRIPTION = (
    "Export a distilled student checkpoint, or one of the SEA paper's published students, to ONNX fp32 (+int8, "
    "onnxruntime static QDQ), TFLite fp32 (+full-int8, litert-torch PT2E), an MCU bundle (C arrays for TensorFlow "
    "Lite Micro), dependency-free C firmware (sea's own C99 of the int8 network and its log-mel front-end) and a "
    "Raspberry Pi bundle (sea_edge.py). Writes frontend.json, parity.json and footprint.json, prints a footprint table."
)


class _ExportParser(argparse.ArgumentParser):
    """``sea export``: ``check-firmware`` is a command; anything else is the model export (``sea export SOURCE``)."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(args or [])
        if args and args[0] not in ("check-firmware", MODEL_COMMAND):
            args = [MODEL_COMMAND, *args]  # `sea export X -o OUT`, `sea export --published N -o OUT`, `sea export -h`
        return super().parse_known_args(args, namespace)


def register(subparsers, name: str, help_text: str) -> None:
    """Add ``sea export`` (a model) and ``sea export check-firmware`` to ``subparsers``."""
    group = subparsers.add_parser(
        name,
        help=help_text,
        usage="sea export SOURCE -o OUT_DIR [options]\n       sea export check-firmware EXPORT_DIR AUDIO... [options]",
        description=DESCRIPTION,
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group.__class__ = _ExportParser
    group.set_defaults(group_parser=group, func=None)
    commands = group.add_subparsers(
        dest="export_command", metavar="{SOURCE,check-firmware}", title="commands", parser_class=argparse.ArgumentParser
    )
    model = commands.add_parser(MODEL_COMMAND, prog="sea export", help="export a model (the default: 'sea export SOURCE')",
                                description=DESCRIPTION, epilog=EXPORT_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _model_arguments(model)
    check = commands.add_parser("check-firmware", prog="sea export check-firmware", epilog=CHECK_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                help="build the firmware, run it on audio (host, emulated Cortex-M4), compare with TFLite",
                                description="Build EXPORT_DIR/firmware, run it on the host and on an emulated "
                                "Cortex-M4 (QEMU mps2-an386), and compare its embeddings with ai-edge-litert's.")  # fmt: skip
    _check_arguments(check)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    # The export package is imported only here, inside the group, never at `import sea` time;
    # ExportConfig is light (a dataclass), the toolchains load inside the export.
    from export.config import ExportConfig

    from ..config import add_config_arguments

    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="student checkpoint (RUN/students/<name>/best.pt or its folder), or a published SEA "
                        "student: sea_ust_64, sea_ust_128, sea_ust_256, sea_ust_512")  # fmt: skip
    parser.add_argument("-o", "--out-dir", dest="out_dir", required=True, metavar="OUT_DIR", help="output folder")
    parser.add_argument("--published", metavar="NAME", choices=("sea_ust_64", "sea_ust_128", "sea_ust_256", "sea_ust_512"),
                        help="export a published SEA student (edgel3's sea_ust_<D>) instead of a checkpoint")  # fmt: skip
    parser.add_argument("--weights", metavar="H5", help="the published student's .h5 / .h5.gz (default: the cache, "
                        "then edgel3's pinned download)")  # fmt: skip
    parser.add_argument("--config", dest="config", metavar="YAML", help="YAML file with ExportConfig keys")
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it);
    # the student is the SOURCE itself (ExportConfig.student names a run's student for `sea run`)
    add_config_arguments(parser, ExportConfig, exclude=("seed", "student"))
    parser.set_defaults(func=_run_export)


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export_dir", metavar="EXPORT_DIR", help="an export folder (model_int8.tflite, frontend.json)")
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files or folders (any rate sea reads)")
    parser.add_argument("--target", default="all", choices=("host", "cortex-m4", "cortex-m7", "all"),
                        help="where to build and run it (cortex-m7: built for its sizes, not run) (default: all)")  # fmt: skip
    parser.add_argument(
        "--out", dest="out", metavar="DIR", help="embeddings folder (default: EXPORT_DIR/firmware/check)"
    )
    parser.add_argument("--hop-size", dest="hop_size", type=float, default=1.0, metavar="S",
                        help="seconds between windows (default: 1.0)")  # fmt: skip
    parser.set_defaults(func=_run_check)


def _run_export(args: argparse.Namespace) -> int:
    from export.config import ExportConfig
    from export.stage import export_source

    from ..config import config_from_args

    extra = {"seed": args.seed} if getattr(args, "seed", None) is not None else None
    config = config_from_args(ExportConfig, args, extra=extra)
    print(export_source(args.source, args.out_dir, config, published=args.published, weights=args.weights))
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from export.firmware.check import check_command

    text, code = check_command(
        args.export_dir, args.audio, target=args.target, out_dir=args.out, hop_size=args.hop_size
    )
    print(text)
    return code
