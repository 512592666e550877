"""Former home of the teacher stage, kept so that old imports still work.

The stage is :mod:`sea.teacher.stage` (:func:`~sea.teacher.stage.run`, here
``extract``) and its config is :mod:`sea.teacher.config`.
"""

from __future__ import annotations

from .config import ExtractConfig, variant_name
from .stage import run as extract
from .stage import store_dir

__all__ = ["ExtractConfig", "extract", "store_dir", "variant_name"]
