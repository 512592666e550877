"""`sea distill`: train a student on a run's reduced teacher targets, and report its fidelity."""

from __future__ import annotations

import argparse

from ..config import add_config_arguments, config_from_args
from ..errors import ConfigError


def register(subparsers, name: str, help_text: str) -> None:
    from ..distill import DistillConfig

    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Train a student (sea students list) to regress the reduced teacher embeddings of RUN_DIR/targets/<name> "
            "from 1-s 8 kHz windows aligned with the teacher frames. Writes RUN_DIR/students/<name>/ with best.pt, "
            "ckpt.pt, log.csv, tb/, fidelity.json and stage.json, then prints the held-out fidelity. An interrupted "
            "run resumes from ckpt.pt; a finished one is a no-op unless --overwrite. Under torchrun the batches are "
            "sharded over the ranks (DDP; gloo on CPU, nccl on CUDA) and only rank 0 writes."
        ),
        epilog=(
            "examples:\n"
            "  sea distill runs/demo --student sea_student_3_lin --targets pca64_random --epochs 20\n"
            "  sea distill runs/demo --student sea_mcu_s --student-args '{out_dim: 64}' --relational 0.1\n"
            "  sea distill runs/demo --student sea_mcu_s --report       (print fidelity.json, no training)\n"
            "  torchrun --nproc_per_node 2 -m sea distill runs/demo --student sea_student_3_lin"
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
    from pathlib import Path

    from ..distill import DistillConfig, distill

    args.student_args = _student_args(args.student_args)
    extra = {"seed": args.seed} if args.seed is not None else None
    config = config_from_args(DistillConfig, args, extra=extra)
    if args.report:
        _print_report(Path(args.run_dir) / "students" / config.output_name())
        return 0
    out = distill(args.run_dir, config, overwrite=args.overwrite)
    if (out / "fidelity.json").is_file():  # absent on ranks > 0 under torchrun
        _print_report(out)
    print(out)
    return 0


def _fmt(v, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def _print_report(student_dir) -> None:
    from ..distill import distill_report

    r = distill_report(student_dir)
    init = r.get("initial") or {}
    print(f"student {r.get('name')} ({r.get('student')}) on targets {r.get('targets')}: {r.get('n_frames')} "
          f"{r.get('split')} frames, best epoch {r.get('best_epoch')}")  # fmt: skip
    print(f"{'':10}{'trained':>10}{'initial':>10}")
    for k in ("r2_mean", "r2_weighted", "cosine_mean", "mse", "mae"):
        print(f"{k:10}{_fmt(r.get(k)):>10}{_fmt(init.get(k)):>10}")
    c = r.get("counts") or {}
    if c:
        print(f"epochs {c.get('epochs')}, steps {c.get('steps')}, {c.get('windows_per_s')} windows/s, "
              f"data wait {_fmt(c.get('data_wait_fraction'), '.1%')}")  # fmt: skip
    if r.get("teacher_untrained"):
        print("note: the teacher was UNTRAINED (random weights); these numbers show the pipeline, not SEA")
