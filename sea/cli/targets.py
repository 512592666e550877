"""`sea targets`: fit, apply and inspect the reductions φ of teacher embeddings."""

from __future__ import annotations

import argparse

from ..config import add_config_arguments, config_from_args
from ._common import add_group


def register(subparsers, name: str, help_text: str) -> None:
    from ..targets.stage import TargetsConfig

    sub = add_group(subparsers, name, help_text)

    p = sub.add_parser(
        "fit",
        help="sample teacher frames and fit the reduction (PCA / identity / dimension sampling)",
        description=(
            "Sample frames of RUN_DIR/teacher/<variant> with a point sampler (random, spl, dpp_div, dpp; 'all' fits "
            "one target set per sampler), fit the reduction on them and write RUN_DIR/targets/<name>/ with "
            "reducer.npz, sample_indices.npy and report.json (held-out explained variance and reconstruction error)."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory with a teacher frame store")
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with TargetsConfig keys")
    p.add_argument("--overwrite", action="store_true", help="refit even if a finished target set matches")
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it)
    add_config_arguments(p, TargetsConfig, exclude=("seed",))
    p.set_defaults(func=_run_fit)

    p = sub.add_parser(
        "apply",
        help="project every teacher frame into targets-*.npy shards",
        description="Project every frame of the teacher store through a fitted reduction into float32 shards aligned with the store.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("name", metavar="NAME", help="target set under RUN_DIR/targets/")
    p.add_argument("--batch-size", type=int, default=8192, help="frames per projection batch (default: 8192)")
    p.add_argument("--overwrite", action="store_true", help="rewrite the shards even if they are up to date")
    p.set_defaults(func=_run_apply)

    p = sub.add_parser(
        "info",
        help="table of the fitted target sets (explained variance, reconstruction error)",
        description="List RUN_DIR/targets/* with method, dim, sampler, points and held-out fidelity.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=_run_info)


def _run_fit(args: argparse.Namespace) -> int:
    from ..targets.stage import TargetsConfig, fit_targets

    config = config_from_args(TargetsConfig, args)
    outs = fit_targets(args.run_dir, config, overwrite=args.overwrite)
    for out in outs if isinstance(outs, list) else [outs]:
        print(out)
    return 0


def _run_apply(args: argparse.Namespace) -> int:
    from ..targets.stage import apply_targets

    print(apply_targets(args.run_dir, args.name, batch_size=args.batch_size, overwrite=args.overwrite))
    return 0


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _run_info(args: argparse.Namespace) -> int:
    from ..targets.stage import targets_info

    rows = targets_info(args.run_dir)
    if not rows:
        print(f"no target sets under {args.run_dir}/targets; run 'sea targets fit {args.run_dir}'")
        return 0
    cols = [
        "name",
        "status",
        "method",
        "dim",
        "sampler",
        "n_points",
        "fit_ev",
        "heldout_ev",
        "heldout_rel_mse",
        "applied",
    ]
    table = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)))
    return 0
