"""`sea targets`: fit, apply and inspect the reductions φ of teacher embeddings."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..config import add_config_arguments, config_from_args
from ._common import add_group


def _command(sub, name: str, func: Callable, help_text: str, description: str, run_dir_help: str | None = None):
    """Add the subcommand ``name`` with its ``RUN_DIR`` argument and handler."""
    p = sub.add_parser(name, help=help_text, description=description)
    p.add_argument("run_dir", metavar="RUN_DIR", help=run_dir_help)
    p.set_defaults(func=func)
    return p


def register(subparsers, name: str, help_text: str) -> None:
    """Add the group ``sea targets`` (fit, apply, info) to ``subparsers``."""
    from ..targets.config import DEFAULT_BATCH_SIZE, TargetsConfig

    sub = add_group(subparsers, name, help_text)
    p = _command(
        sub,
        "fit",
        _run_fit,
        "sample teacher frames and fit the reduction (PCA / identity / dimension sampling)",
        "Sample frames of RUN_DIR/teacher/<variant> with a point sampler (random, spl, dpp_div, dpp; 'all' fits "
        "one target set per sampler), fit the reduction on them and write RUN_DIR/targets/<name>/ with "
        "reducer.npz, sample_indices.npy and report.json (held-out explained variance and reconstruction error).",
        run_dir_help="run directory with a teacher frame store",
    )
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with TargetsConfig keys")
    p.add_argument("--overwrite", action="store_true", help="refit even if a finished target set matches")
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it)
    add_config_arguments(p, TargetsConfig, exclude=("seed",))

    p = _command(
        sub,
        "apply",
        _run_apply,
        "project every teacher frame into targets-*.npy shards",
        "Project every frame of the teacher store through a fitted reduction into float32 shards aligned with the store.",
    )
    p.add_argument("name", metavar="NAME", help="target set under RUN_DIR/targets/")
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"frames per projection batch (default: {DEFAULT_BATCH_SIZE})",
    )
    p.add_argument("--overwrite", action="store_true", help="rewrite the shards even if they are up to date")

    _command(
        sub,
        "info",
        _run_info,
        "table of the fitted target sets (explained variance, reconstruction error)",
        "List RUN_DIR/targets/* with method, dim, sampler, points and held-out fidelity.",
    )


def _run_fit(args: argparse.Namespace) -> int:
    from ..targets import TargetsConfig, fit_targets

    outs = fit_targets(args.run_dir, config_from_args(TargetsConfig, args), overwrite=args.overwrite)
    for out in outs if isinstance(outs, list) else [outs]:
        print(out)
    return 0


def _run_apply(args: argparse.Namespace) -> int:
    from ..targets import apply_targets

    print(apply_targets(args.run_dir, args.name, batch_size=args.batch_size, overwrite=args.overwrite))
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from ..targets import info_table

    print(info_table(args.run_dir))
    return 0
