"""Student architectures and the SEA paper's published students with edgel3-compatible inference.

A timm-style registry holds SEA's Students 0-3, their ``_lin`` variants and an MCU-class family.

>>> from sea import students
>>> m = students.create("sea_student_3_lin")          # [B, 1, 64, 50] log-mel -> [B, 64]
>>> students.list_students("sea_mcu_*")
['sea_mcu_xs', 'sea_mcu_s', 'sea_mcu_m']
>>> students.model_cost(m)["macs"]                   # 122,425,344 conv MACs per 1-s window

Every student has ``.input_shape`` (``(1, 64, 50)`` by default: a 1-s window), ``.embedding_dim``, ``.model_name``
and ``.model_args`` (the kwargs of :func:`create`, so ``create(m.model_name, **m.model_args)`` rebuilds it).
The published students (edgel3's ``sea_ust_64`` ... ``sea_ust_512``, read from their Keras files without TensorFlow):

>>> model, info = students.load_published("sea_ust_64")            # [B, 8000] audio at 8 kHz -> [B, 64]
>>> emb, ts = students.get_embedding(audio, sr, model="sea_ust_64")  # edgel3.get_embedding(..., model_type='sea')

Windows of any length: ``create(name, input_shape=(1, 64, 150))`` takes the 150 mel frames of a 3-s window
(``frontend.frontend_params(3.0)["output_shape"]``), and ``model_cost(m, m.input_shape)`` counts per such window.
"""

from __future__ import annotations

from . import mcu, paper  # noqa: F401  (registers the students)
from .cost import format_cost_table, format_layer_summary, layer_summary, model_cost
from .inference import embed_files, get_embedding, process_file
from .mcu import MCU_BUDGET, McuStudent
from .paper import PAPER_FILTERS, SeaStudent
from .published import PUBLISHED, PublishedStudent, load_embedding_model, load_published, published_checkpoint
from .registry import check_input_shape, create, get_factory, list_students, register_student, student_description

__all__ = [
    "MCU_BUDGET",
    "PAPER_FILTERS",
    "PUBLISHED",
    "McuStudent",
    "PublishedStudent",
    "SeaStudent",
    "check_input_shape",
    "create",
    "embed_files",
    "format_cost_table",
    "format_layer_summary",
    "get_embedding",
    "get_factory",
    "layer_summary",
    "list_students",
    "load_embedding_model",
    "load_published",
    "model_cost",
    "process_file",
    "published_checkpoint",
    "register_student",
    "student_cost_table",
    "student_description",
]


def student_cost_table(pattern: str = "*", window_size: float = 1.0) -> list[dict]:
    """``model_cost`` of every registered student matching ``pattern`` (default kwargs), with ``name`` added.

    Parameters
    ----------
    pattern : str
        Glob on student names.
    window_size : float
        The window in seconds (1.0 for OpenL3/edgel3 teachers, 3.0 for BirdNET): each student is built for its
        ``n_frames`` and costed per window of that length.

    Returns
    -------
    rows : list of dict
    """
    from .frontend import frontend_params

    shape = tuple(frontend_params(window_size)["output_shape"])
    rows = []
    for name in list_students(pattern):
        m = create(name) if shape == (1, 64, 50) else create(name, input_shape=shape)
        rows.append({"name": name, **model_cost(m, m.input_shape)})
    return rows
