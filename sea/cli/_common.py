"""Helpers shared by the CLI group modules."""

from __future__ import annotations

import argparse


def add_group(subparsers, name: str, help_text: str) -> argparse._SubParsersAction:
    """Add a group parser and return its own subparsers object."""
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    group.set_defaults(group_parser=group, func=None)
    return group.add_subparsers(dest="command", metavar="COMMAND", title="commands")
