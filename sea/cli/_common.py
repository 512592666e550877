"""Helpers shared by the CLI group modules."""

from __future__ import annotations

import argparse

from ..errors import NotBuiltError


def add_group(subparsers, name: str, help_text: str) -> argparse._SubParsersAction:
    """Add a group parser and return its own subparsers object."""
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    group.set_defaults(group_parser=group, func=None)
    return group.add_subparsers(dest="command", metavar="COMMAND", title="commands")


def not_built(stage: str, issue: str):
    """Command body for a stage that is not built yet."""

    def _run(args: argparse.Namespace) -> int:
        raise NotBuiltError(
            f"'sea {stage}' is not built yet in this version of sea ({issue}); "
            "see README.md for the stages available today"
        )

    return _run


def add_stub_group(subparsers, name: str, help_text: str, issue: str) -> None:
    group = subparsers.add_parser(name, help=f"{help_text} [not built yet]", description=help_text)
    group.set_defaults(group_parser=group, func=not_built(name, issue))
    group.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
