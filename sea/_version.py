"""The package version, in a module that imports nothing (``sea.runs`` records it in every stage.json)."""

__version__ = "0.1.0"
