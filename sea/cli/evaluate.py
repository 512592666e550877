"""`sea evaluate`: downstream classifiers, fidelity and cost of teacher, reduced teacher and students."""

from __future__ import annotations

import argparse

from ..config import add_config_arguments, config_from_args


def register(subparsers, name: str, help_text: str) -> None:
    """Add the ``sea evaluate`` command (flags from :class:`sea.evaluate.EvalConfig`)."""
    from ..evaluate import EvalConfig

    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Embed a prepared downstream dataset with each model (1-s frames, hop 0.1 s, cached under "
            "RUN_DIR/eval/<dataset>/emb/), train the downstream classifiers under the dataset's protocol "
            "(US8K 10-fold / ESC-50 5-fold CV on the predefined folds with the previous fold validating; "
            "SONYC-UST official split with AutoPool and mean pooling; other sets: their folds/splits or a "
            "seeded stratified k-fold), and write RUN_DIR/eval/<dataset>/report.json, report.md and PNG plots, "
            "plus the run summary RUN_DIR/eval/report.md. Models: teacher, teacher_pca[:NAME], student "
            "checkpoints (.pt files, directories or names under RUN_DIR/students/)."
        ),
        epilog=(
            "example: sea evaluate runs/demo --models teacher,teacher_pca,runs/demo/students/s3 "
            "--dataset runs/us8k --classifiers mlp,logreg"
        ),
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="run directory (teacher store, targets, students; default dataset)"
    )
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with EvalConfig keys")
    p.add_argument("--overwrite", action="store_true", help="recompute even if a finished evaluation matches")
    # seed comes from the root 'sea --seed N'
    add_config_arguments(p, EvalConfig, exclude=("seed",))
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import EvalConfig, load_report, run
    from ..evaluate.report import MARKDOWN_FILE, score_lines

    out = run(args.run_dir, config_from_args(EvalConfig, args), overwrite=args.overwrite)
    print(score_lines(load_report(args.run_dir, out.name)))
    print(out / MARKDOWN_FILE)
    return 0
