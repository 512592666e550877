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
    cost = students.model_cost(model, model.input_shape)
    rows = students.layer_summary(model, model.input_shape)
    if args.json:
        print(json.dumps({"name": args.name, "model_args": model.model_args, "cost": cost, "layers": rows}, indent=2))
        return 0
    print(f"{args.name}: {students.student_description(args.name)}")
    if model.model_args:
        print(f"model_args: {json.dumps(model.model_args)}")
    w = max(len(r["name"]) for r in rows)
    print(f"{'layer':<{w}}  {'type':<12}  {'output shape':<16}  {'params':>10}  {'MACs':>13}")
    for r in rows:
        shape = "x".join(map(str, r["output_shape"][1:]))
        print(f"{r['name']:<{w}}  {r['type']:<12}  {shape:<16}  {r['params']:>10,}  {r['macs']:>13,}")
    print(
        f"total: {cost['params']:,} params ({cost['trainable_params']:,} trainable), {cost['macs']:,} MACs, "
        f"input {'x'.join(map(str, cost['input_shape']))}, output {cost['output_dim']}\n"
        f"weights: {cost['weight_bytes_fp32']:,} B fp32, ~{cost['weight_bytes_int8']:,} B int8; "
        f"peak activations: {cost['peak_activation_bytes_fp32']:,} B fp32, {cost['peak_activation_bytes_int8']:,} B int8; "
        f"largest tensor {cost['largest_activation_bytes']:,} B fp32"
    )
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
