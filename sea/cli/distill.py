"""`sea distill`: placeholder until the stage is built."""

from ._common import add_stub_group


def register(subparsers, name: str, help_text: str) -> None:
    add_stub_group(subparsers, name, help_text, "issue 4")
