"""`sea students`: list and inspect the registered student architectures."""

from __future__ import annotations

import argparse
import json

from ._common import add_group


def _run_list(args: argparse.Namespace) -> int:
    from .. import students

    rows = students.student_cost_table(args.pattern)
    if not rows:
        from ..errors import ConfigError

        raise ConfigError(
            f"no student matches --pattern {args.pattern!r}; available: {', '.join(students.list_students())}"
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(students.format_cost_table(rows))
        print("MACs: conv + linear multiply-accumulates per 1-s window (front-end excluded); peak act: live-tensor sum")
    return 0


def _parse_kwargs(items: list[str] | None) -> dict:
    from ..errors import ConfigError

    kwargs = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--arg {item!r} must look like KEY=VALUE (VALUE parsed as JSON, e.g. out_dim=128)")
        k, v = item.split("=", 1)
        try:
            kwargs[k] = json.loads(v)
        except json.JSONDecodeError:
            kwargs[k] = v
    return kwargs


def _run_show(args: argparse.Namespace) -> int:
    from .. import students

    model = students.create(args.name, **_parse_kwargs(args.arg))
    if args.json:
        cost = students.model_cost(model, model.input_shape)
        rows = students.layer_summary(model, model.input_shape)
        print(json.dumps({"name": args.name, "model_args": model.model_args, "cost": cost, "layers": rows}, indent=2))
    else:
        print(students.format_layer_summary(args.name, students.student_description(args.name), model))
    return 0


def register(subparsers, name: str, help_text: str) -> None:
    sub = add_group(subparsers, name, help_text)
    p = sub.add_parser(
        "list",
        help="table of students: params, MACs per window, peak activation and weight bytes",
        description="List registered students with params, MACs per 1-s window, peak activation memory "
        "(int8 and fp32 bytes, live-tensor sum), int8 weight bytes, input shape and output dim.",
    )
    p.add_argument("--pattern", default="*", help="glob on student names (default: all), e.g. 'sea_mcu_*'")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_list)

    p = sub.add_parser(
        "show", help="layer-by-layer summary of one student", description="Layer-by-layer summary of one student."
    )
    p.add_argument("name", help="registered student name (see 'sea students list')")
    p.add_argument(
        "--arg", action="append", metavar="KEY=VALUE", help="student option, repeatable (e.g. --arg out_dim=128)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_show)
