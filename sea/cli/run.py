"""`sea run CONFIG`: the whole pipeline (prepare -> teacher -> targets -> distill -> evaluate -> export)."""

from __future__ import annotations

import argparse

from ..constants import STAGES


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Run the SEA pipeline from one YAML config: prepare -> teacher -> targets -> distill -> evaluate -> "
            "export. Every section of the file is validated before anything runs. Finished stages are skipped "
            "(their stage.json matches the config and inputs), a changed section re-runs that stage and "
            "everything after it, and a killed run resumes where it stopped. Ends with a summary table "
            "(RUN/summary.md). Under torchrun, teacher extraction is sharded by rank and distillation uses DDP."
        ),
        epilog=(
            "examples:\n"
            "  sea run configs/quickstart.yaml\n"
            "  sea run configs/quickstart.yaml --from distill --overwrite distill\n"
            "  sea run configs/us8k_sea.yaml --to targets\n"
            "  torchrun --nproc_per_node 4 -m sea run configs/sonyc_sea.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="YAML run config (see configs/)")
    p.add_argument("--run-dir", default=None, help="override the config's run_dir")
    p.add_argument("--from", dest="start", default="prepare", choices=STAGES, help="first stage to run")
    p.add_argument("--to", dest="stop", default="export", choices=STAGES, help="last stage to run")
    p.add_argument(
        "--overwrite",
        action="append",
        default=[],
        metavar="STAGE",
        help="redo STAGE even if it is up to date (repeat, comma list, or 'all')",
    )
    p.add_argument("--check", action="store_true", help="validate the config, print the resolved plan, run nothing")
    p.set_defaults(func=_run, group_parser=p)


def _run(args: argparse.Namespace) -> int:
    import json

    from ..errors import ParityError
    from ..pipeline import load_run_config, plan_to_dict, run_pipeline

    plan = load_run_config(args.config, run_dir=args.run_dir, seed=args.seed)
    if args.check:
        print(json.dumps(plan_to_dict(plan), indent=2, default=str))
        return 0
    overwrite = tuple(s.strip() for item in args.overwrite for s in item.split(",") if s.strip())
    try:
        summary = run_pipeline(plan, start=args.start, stop=args.stop, overwrite=overwrite)
    except ParityError as exc:
        if getattr(exc, "summary", None):  # the table still shows which export failed
            print(exc.summary["markdown"])
        raise
    if summary:
        print(summary["markdown"])
    return 0
