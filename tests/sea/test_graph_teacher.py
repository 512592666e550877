"""tflite and onnx teachers: any embedding model file, its declared I/O checked, batched, counted, in the stage."""

from __future__ import annotations

import numpy as np
import pytest

from sea.config import config_from_dict
from sea.errors import ConfigError, SeaError
from sea.framing import n_frames, windows
from sea.store import FrameStore
from sea.teacher.config import ExtractConfig
from sea.teacher.registry import load_teacher_model, teacher_cost
from sea.teacher.stage import run as extract
from tests.conftest import make_run

onnx = pytest.importorskip("onnx", reason="onnx teachers need the export extra (onnx, onnxruntime)")
pytest.importorskip("onnxruntime", reason="onnx teachers need the export extra (onnxruntime)")

SR, L, K, C, D = 16000, 16000, 160, 8, 6  # 1 s at 16 kHz; conv kernel = stride 160 -> 100 steps; 8 channels; 6-d


def _weights(seed=0):
    r = np.random.default_rng(seed)
    return (r.standard_normal((C, 1, K)).astype(np.float32) * 0.1, r.standard_normal(C).astype(np.float32) * 0.1,
            r.standard_normal((C, D)).astype(np.float32), r.standard_normal(D).astype(np.float32))  # fmt: skip


def _reference(x: np.ndarray, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of the onnx model: frame conv -> relu -> mean over time -> dense; returns (pooled, out)."""
    w, b, fw, fb = _weights(seed)
    frames = x.reshape(x.shape[0], L // K, K).astype(np.float64)
    h = np.maximum(frames @ w[:, 0, :].T.astype(np.float64) + b, 0)  # [B, 100, C]
    pooled = h.mean(1)
    return pooled, pooled @ fw + fb


def _onnx_model(path, *, batch="N", two_inputs=False, seed=0):
    from onnx import TensorProto, helper, numpy_helper

    w, b, fw, fb = _weights(seed)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (fw, "fw"), (fb, "fb"))]
    inits.append(numpy_helper.from_array(np.array([0, 1, L], np.int64), "shape"))
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x3"]),
        helper.make_node("Conv", ["x3", "w", "b"], ["h"], kernel_shape=[K], strides=[K]),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("ReduceMean", ["hr"], ["pooled"], axes=[2], keepdims=0),
        helper.make_node("Gemm", ["pooled", "fw", "fb"], ["emb"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, L])]
    if two_inputs:
        inputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3]))
    graph = helper.make_graph(nodes, "tiny", inputs, [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [batch, D])],
                              initializer=inits)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _decl(path, **kw):
    base = {"model": "onnx", "weights": str(path), "input": "waveform", "sr": SR, "window_size": 1.0,
            "embedding_size": D}  # fmt: skip
    base.update(kw)
    return base


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    return _onnx_model(tmp_path_factory.mktemp("onnx") / "tiny_embedder.onnx")


def test_onnx_teacher_matches_its_graph(onnx_file):
    model, spec = load_teacher_model(_decl(onnx_file))
    assert (spec.family, spec.name, spec.sr, spec.window_length, spec.variant) == (
        "onnx", "tiny_embedder", SR, L, "onnx_tiny_embedder"
    )  # fmt: skip
    x = np.random.default_rng(1).standard_normal((5, L)).astype(np.float32)
    y = model(x)
    assert y.shape == (5, D) and y.dtype == np.float32
    np.testing.assert_allclose(y, _reference(x)[1], rtol=1e-4, atol=1e-4)
    # an intermediate tensor by name: added to the graph's outputs in memory
    pooled, _ = load_teacher_model(_decl(onnx_file, output="pooled", embedding_size=C))
    np.testing.assert_allclose(pooled(x), _reference(x)[0], rtol=1e-4, atol=1e-5)
    # cost counted from the graph: conv 100 steps x 8 ch x 160 taps, dense 8 x 6
    assert teacher_cost(spec) == {"params": C * K + C + C * D + D + 3, "macs": 100 * C * K + C * D}


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"window_size": 2.0}, r"its input shape is \[-1, 16000\].*2-s waveform at 16000 Hz \[32000\]"),
        ({"sr": 8000}, r"1-s waveform at 8000 Hz \[8000\]"),
        ({"embedding_size": 7}, "holds 6 values per example, but the config declares embedding_size=7"),
        ({"output": "pooledd"}, r"no tensor 'pooledd' \(did you mean 'pooled'\?\)"),
        ({"output": "3"}, r"has 1 output\(s\) \(emb\); output 3 does not exist"),
        ({"input": "logmel", "sr": None}, r"log-mel of a 1-s window at 8000 Hz \[64, 50\]"),
    ],
)
def test_onnx_declaration_mismatch_is_a_clear_error(onnx_file, kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        load_teacher_model(_decl(onnx_file, **kw))
    assert "\n" not in str(e.value) and str(onnx_file) in str(e.value) or "output" in str(e.value)


def test_onnx_bad_files(tmp_path):
    two = _onnx_model(tmp_path / "two.onnx", two_inputs=True)
    with pytest.raises(ConfigError, match="has 2 inputs"):
        load_teacher_model(_decl(two))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="is not an ONNX model"):
        load_teacher_model(_decl(junk))
    with pytest.raises(Exception, match="do not exist"):
        load_teacher_model(_decl(tmp_path / "missing.onnx"))


def test_onnx_fixed_batch_runs_in_its_batch(tmp_path):
    """A model exported with batch 1 still embeds any batch (example by example)."""
    model, _ = load_teacher_model(_decl(_onnx_model(tmp_path / "fixed.onnx", batch=1)))
    assert model.fixed_batch == 1
    x = np.random.default_rng(2).standard_normal((3, L)).astype(np.float32)
    np.testing.assert_allclose(model(x), _reference(x)[1], rtol=1e-4, atol=1e-4)


def test_logmel_input(tmp_path):
    """input: logmel feeds sea's student log-mel of each 8-kHz window: [B, 1, 64, 50] here."""
    from onnx import TensorProto, helper

    from sea.students.frontend_numpy import logmel_numpy

    nodes = [helper.make_node("ReduceMean", ["m"], ["e"], axes=[1, 3], keepdims=0)]
    graph = helper.make_graph(
        nodes, "mel", [helper.make_tensor_value_info("m", TensorProto.FLOAT, ["N", 1, 64, 50])],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 64])],
    )  # fmt: skip
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "mel.onnx"))
    decl = {"model": "onnx", "weights": str(tmp_path / "mel.onnx"), "input": "logmel", "window_size": 1.0,
            "embedding_size": 64}  # fmt: skip
    model, spec = load_teacher_model(decl)
    assert spec.sr == 8000
    x = np.random.default_rng(3).standard_normal((2, 8000)).astype(np.float32) * 0.1
    np.testing.assert_allclose(model(x), logmel_numpy(x).mean(-1), rtol=1e-5, atol=1e-4)


def test_onnx_teacher_in_the_stage(tmp_path, onnx_file):
    run = make_run(tmp_path / "run", n_clips=3, duration=1.3, srs=(SR,))
    cfg = config_from_dict(ExtractConfig, {**_decl(onnx_file), "dtype": "float32", "batch_size": 4})
    out = extract(run, cfg)
    assert out.name == "onnx_tiny_embedder"
    store = FrameStore(out)
    assert store.teacher["sr"] == SR and store.teacher["family"] == "onnx" and store.meta["sr"] == SR
    from sea.cache import AudioCache

    cache = AudioCache(run, SR)
    for c, sl in store.clip_slices().items():
        y = cache.get(c)
        assert sl.stop - sl.start == n_frames(y.shape[0], SR)
        np.testing.assert_allclose(store.read(np.arange(sl.start, sl.stop)), _reference(windows(y, SR))[1],
                                   rtol=1e-4, atol=1e-4)  # fmt: skip
    # a declaration that does not fit the model fails before anything is written
    bad = config_from_dict(ExtractConfig, {**_decl(onnx_file, embedding_size=5), "dtype": "float32"})
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(ConfigError, match="embedding_size=5"):
        extract(run, bad, overwrite=True)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


# -- tflite --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory):
    """A tiny conv embedder converted with litert-torch (batch 1, as converters write it)."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch", reason="tflite conversion needs the export extra")

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            w, b, fw, fb = _weights()
            self.conv = torch.nn.Conv1d(1, C, kernel_size=K, stride=K)
            self.fc = torch.nn.Linear(C, D)
            with torch.no_grad():
                self.conv.weight.copy_(torch.from_numpy(w))
                self.conv.bias.copy_(torch.from_numpy(b))
                self.fc.weight.copy_(torch.from_numpy(fw.T.copy()))
                self.fc.bias.copy_(torch.from_numpy(fb))

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x[:, None, :])).mean(-1))

    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    litert_torch.convert(Tiny().eval(), (torch.zeros(1, L),)).export(str(path))
    return path


def test_tflite_teacher(tflite_file):
    decl = _decl(tflite_file, model="tflite")
    model, spec = load_teacher_model(decl)
    assert spec.variant == "tflite_tiny" and model.fixed_batch in (None, 1)
    x = np.random.default_rng(4).standard_normal((5, L)).astype(np.float32)
    np.testing.assert_allclose(model(x), _reference(x)[1], rtol=1e-4, atol=1e-4)
    assert teacher_cost(spec)["macs"] == 100 * C * K + C * D


def _pooled_tensor(tflite_file) -> str:
    """The name of the intermediate tensor holding the pooled mean, found by reading all of them (builtin kernels)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    x = np.random.default_rng(5).standard_normal((1, L)).astype(np.float32)
    it = Interpreter(model_path=str(tflite_file), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    outputs = {d["index"] for d in it.get_output_details()}
    pooled = [t["name"] for t in it.get_tensor_details() if t["index"] not in outputs and list(t["shape"]) == [1, C]
              and np.allclose(it.get_tensor(t["index"]), _reference(x)[0], rtol=1e-4, atol=1e-5)]  # fmt: skip
    assert len(pooled) >= 1, "the converted model has no intermediate tensor holding the pooled mean"
    return pooled[0]


def test_tflite_intermediate_tensor_runs_under_xnnpack(tflite_file):
    """An intermediate tensor (BirdNET's case) reads back under the XNNPACK delegate, equal to the builtin kernels."""
    from sea.teacher.graph import TFLiteTeacher

    pooled = _pooled_tensor(tflite_file)
    before = tflite_file.read_bytes()
    fast, spec = load_teacher_model(_decl(tflite_file, model="tflite", output=pooled, embedding_size=C))
    assert fast.delegate and fast._it.get_output_details()[0]["name"] == pooled  # redirected, in memory
    xs = np.random.default_rng(6).standard_normal((3, L)).astype(np.float32)
    got = fast(xs)
    np.testing.assert_allclose(got, _reference(xs)[0], rtol=1e-4, atol=1e-5)
    slow = TFLiteTeacher(spec, delegate=False)
    assert slow._it.get_output_details()[0]["name"] != pooled  # there it stays an intermediate
    np.testing.assert_allclose(slow(xs), got, rtol=1e-5, atol=1e-6)
    assert tflite_file.read_bytes() == before


def test_tflite_intermediate_tensor_falls_back_to_builtin_kernels(tflite_file, monkeypatch, caplog):
    """Where the output cannot be redirected, the teacher warns and reads the tensor on the builtin kernels."""
    import sea.teacher.graph as graph

    pooled = _pooled_tensor(tflite_file)

    def unpatchable(path, tensor):
        raise SeaError(f"tflite teacher {str(path)!r} has no graph outputs to redirect")

    monkeypatch.setattr(graph, "_with_output", unpatchable)
    with caplog.at_level("WARNING", logger="sea.teacher.graph"):
        model, _ = load_teacher_model(_decl(tflite_file, model="tflite", output=pooled, embedding_size=C))
    assert not model.delegate
    assert any("running it on LiteRT's builtin kernels" in r.getMessage() for r in caplog.records)
    xs = np.random.default_rng(8).standard_normal((2, L)).astype(np.float32)
    np.testing.assert_allclose(model(xs), _reference(xs)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"window_size": 0.5}, r"tflite teacher .*tiny.tflite': its input shape is \[1, 16000\].*\[8000\]"),
        ({"embedding_size": 12}, "holds 6 values per example, but the config declares embedding_size=12"),
        ({"output": "7"}, r"output 7 does not exist"),
        ({"output": "no_such_tensor"}, "has no tensor 'no_such_tensor'"),
    ],
)
def test_tflite_declaration_mismatch_is_a_clear_error(tflite_file, kw, match):
    """Issue 15 acceptance: a tflite teacher whose declared I/O mismatches its model gets a clear error."""
    with pytest.raises(ConfigError, match=match) as e:
        load_teacher_model(_decl(tflite_file, model="tflite", **kw))
    assert "\n" not in str(e.value)


def test_tflite_not_a_model(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    with pytest.raises(ConfigError, match="is not a TFLite model"):
        load_teacher_model(_decl(junk, model="tflite"))


def test_tflite_cost_counts_a_per_frame_layer_once_per_frame():
    """BirdNET's in-graph mel filterbank is a FULLY_CONNECTED over (frames, bins) rows: it runs once per frame.

    The shapes are those LiteRT reports for BirdNET V2.4 after a 3-s window ran (511 frames)."""
    from sea.teacher.graph import _tflite_macs

    ops = [
        {"op": "FULLY_CONNECTED", "inputs": [(511, 1025), (96, 1025)], "outputs": [(511, 96)]},
        {"op": "FULLY_CONNECTED", "inputs": [(1, 1024), (6522, 1024), (6522,)], "outputs": [(1, 6522)]},
        {"op": "CONV_2D", "inputs": [(1, 8, 8, 3), (16, 3, 3, 3)], "outputs": [(1, 8, 8, 16)]},
    ]
    assert _tflite_macs(ops) == 511 * 96 * 1025 + 6522 * 1024 + 8 * 8 * 16 * 3 * 3 * 3


def test_litert_delegate_chatter_is_held_back_and_other_stderr_kept(tflite_file):
    """LiteRT announces its XNNPACK delegate on stderr (once per process, under progress bars): a tflite teacher
    holds that line back, and only that line. Fresh processes, since LiteRT prints it once."""
    import json
    import subprocess
    import sys

    raw = ("from ai_edge_litert.interpreter import Interpreter\n"
           f"Interpreter(model_path={str(tflite_file)!r}).allocate_tensors()\n")  # fmt: skip
    teacher = (
        "import numpy as np, os\n"
        "from sea.teacher.registry import load_teacher_model\n"
        f"model, _ = load_teacher_model(json.loads({json.dumps(json.dumps(_decl(tflite_file, model='tflite')))}))\n"
        "assert model.delegate\n"
        f"model(np.zeros((3, {L}), np.float32))\n"
    )
    run = [subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True)
           for code in (raw, teacher)]  # fmt: skip
    assert run[0].returncode == 0 and "XNNPACK delegate" in run[0].stderr  # the line exists: the check can fail
    assert run[1].returncode == 0, run[1].stderr
    assert "XNNPACK" not in run[1].stderr


def test_c_stderr_filtered_keeps_every_other_line(capfd):
    import os

    from sea.utils import c_stderr_filtered

    with c_stderr_filtered(("INFO: Created",)):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: something real\n")
    err = capfd.readouterr().err
    assert err == "ERROR: something real\n"
