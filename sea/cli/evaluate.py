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
            "Embed a prepared downstream dataset with each model (frames of the model's window: 1 s for OpenL3,\n"
            "edgel3 and their students, 3 s for BirdNET; hop --hop-size; cached under\n"
            "RUN_DIR/eval/<dataset>/emb/), train the downstream classifiers under the dataset's protocol and\n"
            "write RUN_DIR/eval/<dataset>/report.json, report.md and PNG plots, plus the run summary\n"
            "RUN_DIR/eval/report.md.\n"
            "\n"
            "Protocols: us8k / esc50 = leave-one-fold-out over the folds present (at least 3; the previous fold\n"
            "validates), else grouped k-fold by recording; sonyc = the official split, scored on verified labels\n"
            "(DCASE-UST AUPRC), AutoPool head selected on validate; folds / split / kfold for other sets; auto\n"
            "picks from the dataset's name.\n"
            "\n"
            "Models: teacher, teacher_pca[:TARGETS] (the teacher followed by a fitted PCA), teacher_8k[:TARGETS]\n"
            "(the teacher on its windows low-passed at 4 kHz: what an 8 kHz student can hear of a faster\n"
            "teacher, so the ceiling of its fidelity), and student checkpoints (students/<name>, a name under\n"
            "RUN_DIR/students/, a directory or a .pt file).\n"
            "\n"
            "Everything is checked before anything is written: a failed command leaves a finished evaluation\n"
            "finished."
        ),
        epilog=(
            "examples (paths that 'sea run configs/quickstart.yaml' and 'configs/sea_paper.yaml' create):\n"
            "  sea evaluate runs/quickstart --models teacher,teacher_pca:pca64_random,students/sea_mcu_s\n"
            "  sea evaluate runs/quickstart --dataset runs/quickstart/datasets/synthetic_eval \\\n"
            "      --models teacher,students/sea_student_3_lin --classifiers logreg,mlp\n"
            "  sea evaluate runs/sea_paper --dataset runs/sea_paper/datasets/us8k --protocol us8k \\\n"
            "      --models teacher,students/sea_mcu_s\n"
            "  sea evaluate runs/sea_paper --dataset runs/sea_paper/datasets/sonyc_ust --protocol sonyc \\\n"
            "      --classifiers mlp --autopool-preset fast --models teacher\n"
            "\n"
            "a fresh run needs, in order: sea data prepare, sea teacher extract, sea targets fit, sea distill\n"
            "(or all of it from one YAML file: sea run CONFIG)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
