"""`sea distill`: train a student on a run's reduced teacher targets, and report its fidelity."""

from __future__ import annotations

import argparse

from ..config import add_config_arguments, config_from_args
from ..errors import ConfigError


def register(subparsers, name: str, help_text: str) -> None:
    """Add ``sea distill`` (train a student, or print its fidelity with ``--report``) to ``subparsers``."""
    from ..distill import DistillConfig

    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Train a student (sea students list) to regress the reduced teacher embeddings of RUN_DIR/targets/<name> "
            "from 8 kHz windows aligned with the teacher frames, as long as the teacher's window (1 s for OpenL3 and "
            "edgel3, 3 s for BirdNET: read from the frame store). Writes RUN_DIR/students/<name>/ with best.pt, "
            "ckpt.pt, log.csv, tb/, fidelity.json and stage.json, then prints the held-out fidelity. Held-out frames "
            "are whole recordings (--val-by group). An interrupted run resumes from ckpt.pt; a finished one is a "
            "no-op unless --overwrite. Under torchrun the batches are sharded over the ranks (DDP; gloo on CPU, "
            "nccl on CUDA) and only rank 0 writes."
        ),
        epilog=(
            "examples:\n"
            "  sea distill runs/quickstart --student sea_student_3_lin --targets pca64_random --epochs 20\n"
            "  sea distill runs/quickstart --student sea_mcu_s --student-args '{out_dim: 64}' --cosine 0.1\n"
            "  sea distill runs/quickstart --student sea_mcu_s --report       (print fidelity.json, no training)\n"
            "  sea distill runs/quickstart --student sea_mcu_s --qat --init-from sea_mcu_s   (int8-aware fine-tune)\n"
            "  sea distill runs/us8k_real --student sea_mcu_s --targets edgel3_sea_ust_64_identity64 \\\n"
            "      --online-teacher --time-shift 0.5 --mixup 0.5   (the edgel3 teacher labels each augmented window)\n"
            "  sea distill runs/us8k_real --student sea_mcu_s --targets birdnet_v2.4_pca64_random --sr 24000\n"
            "      (a student hearing up to 12 kHz; needs the run's 24 kHz cache: sea data prepare ... --cache-srs)\n"
            "  torchrun --nproc_per_node 2 -m sea distill runs/quickstart --student sea_student_3_lin\n"
            "\n"
            "a fresh run needs, in order: sea data prepare DATASET RAW_DIR RUN_DIR, sea teacher extract RUN_DIR,\n"
            "sea targets fit RUN_DIR (or all of it from one YAML file: sea run CONFIG)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory with a fitted target set and an 8 kHz cache")
    p.add_argument("--config", metavar="YAML", default=None, help="YAML file with DistillConfig keys")
    p.add_argument("--overwrite", action="store_true", help="retrain from scratch even if a finished run matches")
    p.add_argument(
        "--report", action="store_true", help="only print the fidelity of RUN_DIR/students/<name> (no training)"
    )
    # seed comes from the root 'sea --seed N' (a subcommand flag of the same dest would clobber it)
    add_config_arguments(p, DistillConfig, exclude=("seed",))
    p.set_defaults(func=_run_distill)


def _student_args(value):
    """``--student-args`` arrives as text: parse it as a YAML/JSON mapping."""
    if value is None or isinstance(value, dict):
        return value
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--student-args {value!r} is not valid YAML/JSON: {exc}") from None
    if parsed is None:
        return None
    if not isinstance(parsed, dict):
        raise ConfigError(f"--student-args {value!r} must be a mapping, e.g. '{{out_dim: 64}}'")
    return parsed


def _run_distill(args: argparse.Namespace) -> int:
    from ..distill import DistillConfig, report_text, run
    from ..layout import RunLayout

    args.student_args = _student_args(args.student_args)
    extra = {"seed": args.seed} if args.seed is not None else None
    config = config_from_args(DistillConfig, args, extra=extra)
    layout = RunLayout(args.run_dir)
    if args.report:
        print(report_text(layout.student(config.output_name())))
        return 0
    out = run(args.run_dir, config, overwrite=args.overwrite)
    if layout.fidelity(out.name).is_file():  # absent on ranks > 0 under torchrun
        print(report_text(out))
    print(out)
    return 0
