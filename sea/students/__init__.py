"""Student architectures: a timm-style registry, SEA's Students 0-3, ``_lin`` variants and an MCU-class family.

>>> from sea import students
>>> m = students.create("sea_student_3_lin")          # [B, 1, 64, 50] log-mel -> [B, 64]
>>> students.list_students("sea_mcu_*")
['sea_mcu_xs', 'sea_mcu_s', 'sea_mcu_m']
>>> students.model_cost(m)["macs"]                   # 122,425,344 conv MACs per 1-s window

Every student has ``.input_shape`` (``(1, 64, 50)`` by default: a 1-s window), ``.embedding_dim``, ``.model_name``
and ``.model_args`` (the kwargs of :func:`create`, so ``create(m.model_name, **m.model_args)`` rebuilds it).
Windows of any length: ``create(name, input_shape=(1, 64, 150))`` takes the 150 mel frames of a 3-s window
(``frontend.frontend_params(3.0)["output_shape"]``), and ``model_cost(m, m.input_shape)`` counts per such window.
"""

from __future__ import annotations

from . import mcu, paper  # noqa: F401  (registers the students)
from .cost import format_cost_table, format_layer_summary, layer_summary, model_cost
from .mcu import MCU_BUDGET, McuStudent
from .paper import PAPER_FILTERS, SeaStudent
from .registry import check_input_shape, create, get_factory, list_students, register_student, student_description

__all__ = [
    "MCU_BUDGET",
    "PAPER_FILTERS",
    "McuStudent",
    "SeaStudent",
    "check_input_shape",
    "create",
    "format_cost_table",
    "format_layer_summary",
    "get_factory",
    "layer_summary",
    "list_students",
    "model_cost",
    "register_student",
    "student_cost_table",
    "student_description",
]


def student_cost_table(pattern: str = "*") -> list[dict]:
    """``model_cost`` of every registered student matching ``pattern`` (default kwargs), with ``name`` added."""
    rows = []
    for name in list_students(pattern):
        m = create(name)
        rows.append({"name": name, **model_cost(m, m.input_shape)})
    return rows
