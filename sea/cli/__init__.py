"""The ``sea`` command line: one subcommand group per pipeline stage.

Each group lives in its own module (``sea/cli/<group>.py``) exposing
``register(subparsers)``. Commands stay thin: parse flags, build the stage's
config, call one library function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from .._version import __version__
from ..errors import SeaError, SeaWarning

GROUPS = (
    ("data", "prepare target-domain datasets (synthetic, UrbanSound8K, SONYC-UST, ESC-50, folders)"),
    ("teacher", "teachers (OpenL3, edgel3, BirdNET, TFLite/ONNX): embed files (openl3-compatible) or extract a run's frame store"),
    ("targets", "fit and apply the reduction (PCA / dimension sampling) of teacher embeddings"),
    ("students", "list and inspect students; embed audio with the published SEA students (edgel3-compatible)"),
    ("distill", "train a student to regress the reduced teacher embeddings"),
    ("evaluate", "downstream classifiers, fidelity and cost metrics, reports and plots"),
    ("export", "quantize and export a student to ONNX / TFLite / MCU / firmware (C99) / Raspberry Pi; check-firmware"),
    ("run", "run the whole pipeline from one YAML config"),
)

log = logging.getLogger("sea")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sea",
        description=(
            "Specialized Embedding Approximation: distill a teacher (OpenL3 by default) into tiny students for "
            "urban-sound edge devices. Each stage reads and writes a run directory."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'sea GROUP --help' for the commands of a group.",
    )
    parser.add_argument("--version", action="version", version=f"sea {__version__}")
    parser.add_argument("--seed", type=int, default=None, help="global random seed (default: stage config seed)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging; tracebacks on error")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, only warnings and errors")
    parser.add_argument(
        "--verify", action="store_true", help="check every input file against its full sha256, not only size and samples"
    )
    sub = parser.add_subparsers(dest="group", metavar="GROUP", title="groups")
    for name, help_text in GROUPS:
        module = importlib.import_module(f".{name}", __name__)
        module.register(sub, name, help_text)
    _remember_parsers(parser)
    _group_examples(sub)
    return parser


# examples shown under `sea GROUP --help` for the groups whose module gives none of its own
_GROUP_EXAMPLES = {
    "teacher": (
        "examples:\n"
        "  sea teacher embed audio clip.wav -o out/ --audio-embedding-size 512    # openl3's command line\n"
        "  sea teacher embed sounds/ --teacher edgel3:sea_ust_64 -o out/           # another teacher of the registry\n"
        "  sea teacher extract runs/quickstart --input-repr mel256 --embedding-size 512\n"
        "  torchrun --nproc_per_node 4 -m sea teacher extract RUN --device cuda"
    ),
    "students": (
        "examples:\n"
        "  sea students list --pattern 'sea_mcu_*'\n"
        "  sea students show sea_student_3 --window-size 3\n"
        "  sea students embed clip.wav -o out/ --model sea_ust_64    # edgel3's published SEA student"
    ),
}


def _group_examples(sub: argparse._SubParsersAction) -> None:
    for name, group in sub.choices.items():
        if not group.epilog and name in _GROUP_EXAMPLES:
            group.epilog = _GROUP_EXAMPLES[name]
            group.formatter_class = argparse.RawDescriptionHelpFormatter


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command know its own parser, so a usage error shows that command's usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(command_parser=sub)
                _remember_parsers(sub)


_OWN_PACKAGES = ("sea", "data_prep", "export")


class _OwnLoggersOnly(logging.Filter):
    """Third-party libraries (absl, JAX, the converters) log chatter through their own and the root logger;
    a sea command shows their errors only (everything with -v)."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".")[0] in _OWN_PACKAGES
        return own or record.levelno >= logging.ERROR


def _quiet_third_parties() -> None:
    # set before TensorFlow-based converters and absl import (they read these at import time)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "2")


def _configure(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    # third-party converters (litert-torch, JAX, absl) log INFO chatter through the root logger:
    # only our own packages speak at INFO, everything else from WARNING (all of it at -vv)
    root_level = logging.DEBUG if args.verbose > 1 else max(level, logging.WARNING)
    logging.basicConfig(level=root_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        _quiet_third_parties()
        for handler in logging.getLogger().handlers:
            handler.addFilter(_OwnLoggersOnly())
    if args.verify:
        from ..integrity import set_full_verify

        set_full_verify(True)
    for name in ("sea", "data_prep", "export"):
        logging.getLogger(name).setLevel(level)
    from .. import progress

    progress.set_enabled(not args.quiet)
    if args.seed is not None:
        from ..utils import seed_everything

        seed_everything(args.seed)

    def _showwarning(message, category, filename, lineno, file=None, line=None):
        # sea's own warnings as one line; third-party deprecation chatter only with -v
        if issubclass(category, SeaWarning) or _is_own_file(filename):
            print(f"warning: {message}", file=sys.stderr)

    if not args.verbose:
        warnings.showwarning = _showwarning


def _is_own_file(filename: str) -> bool:
    parts = os.path.normpath(filename).split(os.sep)
    return any(p in _OWN_PACKAGES for p in parts[-4:-1]) and "site-packages" not in parts


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sea`` console script; returns the exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # report it on the command the user typed, with that command's usage (exit 2)
        (getattr(args, "command_parser", None) or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        # A group without a command prints its own help, like git.
        target = getattr(args, "group_parser", None) or parser
        target.print_help(sys.stderr)
        return 2
    _configure(args)
    try:
        result = args.func(args)
    except SeaError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
