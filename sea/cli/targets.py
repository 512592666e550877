"""`sea targets`: fit, apply and inspect the reductions φ of teacher embeddings."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..config import add_config_arguments, config_from_args
from ._common import add_group

_GROUP_EPILOG = """\
examples:
  sea targets fit runs/sonyc --dim 64 --sampler dpp_div      # PCA-64 fitted on DPP-chosen teacher frames
  sea targets fit runs/sonyc --dim 128 --sampler all          # one target set per sampler
  sea targets fit runs/sonyc --method identity                # phi = identity (Student 0)
  sea targets apply runs/sonyc pca64_dpp_div                  # project every frame into shards
  sea targets info runs/sonyc                                 # held-out fidelity of every target set

Run 'sea targets COMMAND --help' for a command's options."""

_FIT_DESCRIPTION = """\
Sample frames of RUN_DIR/teacher/<variant> with a point sampler, fit the reduction
phi on them and write RUN_DIR/targets/<name>/: reducer.npz, sample_indices.npy and
report.json (held-out explained variance and reconstruction error, the buckets the
sampler drew within, and the chosen frames' diversity next to a uniform draw).

Samplers (SEA section 4.2.1), each within time buckets with proportional quotas:
  random   uniform
  spl      louder frames of their 2-hour window more often (--spl-window)
  dpp_div  a k-DPP: diverse frames (pool >= 4x each bucket's quota)
  dpp      a k-DPP weighted by the spl relevance: loud and diverse
  all      one target set per sampler
Buckets: day = (sensor, calendar date) from the manifest's meta.sensor_id and
meta.date/timestamp (clips without them: a bucket each, with a warning); sensor;
clip; auto = day when every clip has a date, else clip.

A finished target set with the same config and teacher store is not refitted
(unless --overwrite); the config, the teacher store and dim are checked before
anything is written."""

_FIT_EPILOG = """\
examples:
  sea targets fit runs/sonyc                                      # PCA-64, random, 20000 points
  sea targets fit runs/sonyc --dim 128 --sampler spl --bucket day
  sea targets fit runs/sonyc --sampler dpp_div --n-points 500000 --dpp-pool-size 20000
  sea targets fit runs/sonyc --sampler dpp --dpp-norm l1          # the paper's kernel (near-uniform)
  sea targets fit runs/sonyc --config targets.yaml --overwrite
  sea --seed 3 targets fit runs/sonyc --name pca64_seed3"""

_APPLY_EPILOG = """\
examples:
  sea targets apply runs/sonyc pca64_random
  sea targets apply runs/sonyc pca64_random --batch-size 4096 --overwrite

Distillation reads the shards when they match the reducer and the teacher store,
and projects frames on the fly otherwise."""

_INFO_EPILOG = """\
examples:
  sea targets info runs/sonyc

Columns: bucket = the buckets the sampler drew within; diversity = the chosen
frames' mean within-bucket pairwise distance (standardised teacher space) divided
by a uniform draw's with the same quotas (> 1: more diverse than uniform);
fit_ev = variance of the fitting frames that phi keeps; heldout_ev = the same on
held-out clips; heldout_rel_mse = held-out reconstruction error relative to the
held-out energy about the fit mean (1 - heldout_ev); applied = shards written."""


def _command(sub, name: str, func: Callable, help_text: str, description: str, epilog: str, run_dir_help: str):
    """Add the subcommand ``name`` with its ``RUN_DIR`` argument, examples and handler."""
    p = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=run_dir_help)
    p.set_defaults(func=func)
    return p


def register(subparsers, name: str, help_text: str) -> None:
    """Add the group ``sea targets`` (fit, apply, info) to ``subparsers``."""
    from ..targets.config import DEFAULT_BATCH_SIZE, TargetsConfig

    sub = add_group(subparsers, name, help_text)
    group = subparsers.choices[name]
    group.epilog, group.formatter_class = _GROUP_EPILOG, argparse.RawDescriptionHelpFormatter
    p = _command(
        sub, "fit", _run_fit, "sample teacher frames and fit the reduction (PCA / identity / dimension sampling)",
        _FIT_DESCRIPTION, _FIT_EPILOG, "run directory with a teacher frame store (sea teacher extract)",
    )  # fmt: skip
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with TargetsConfig keys")
    p.add_argument("--overwrite", action="store_true", help="refit even if a finished target set matches")
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it)
    add_config_arguments(p, TargetsConfig, exclude=("seed",))

    p = _command(
        sub, "apply", _run_apply, "project every teacher frame into targets-*.npy shards",
        "Project every frame of the teacher store through a fitted reduction into float32 shards aligned\n"
        "with the store (RUN_DIR/targets/NAME/targets-*.npy and targets_index.json).",
        _APPLY_EPILOG, "run directory with a fitted target set",
    )  # fmt: skip
    p.add_argument("name", metavar="NAME", help="target set under RUN_DIR/targets/ (see 'sea targets info')")
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="frames per projection batch (default: %(default)s)"
    )
    p.add_argument("--overwrite", action="store_true", help="rewrite the shards even if they are up to date")

    _command(
        sub, "info", _run_info, "table of the fitted target sets (explained variance, reconstruction error)",
        "List RUN_DIR/targets/* with method, dim, sampler, points and held-out fidelity.",
        _INFO_EPILOG, "run directory",
    )  # fmt: skip


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
