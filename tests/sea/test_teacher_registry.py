"""The teacher registry: FAMILY[:NAME] parsing with suggestions, config validation, specs, identity, the edgel3 family."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import types

import numpy as np
import pytest
import torch

from sea.config import config_from_dict
from sea.errors import ConfigError, SeaError, WeightsError
from sea.framing import n_frames
from sea.runs import read_stage
from sea.store import FrameStore
from sea.teacher import registry
from sea.teacher.config import ExtractConfig, config_record, variant_name
from sea.teacher.registry import (
    TeacherSpec,
    load_teacher_model,
    parse_teacher,
    resolve_teacher,
    teacher_cost,
    teacher_values,
)
from sea.teacher.stage import run as extract
from tests.conftest import make_run, shared_path

# -- parsing and suggestions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("edgel3:sea_ust_64", ("edgel3", "sea_ust_64")),
        ("birdnet", ("birdnet", None)),
        ("BirdNET:v2.4", ("birdnet", "v2.4")),
        ("openl3:mel128_env_6144", ("openl3", "mel128_env_6144")),
        ("tflite:my_model", ("tflite", "my_model")),
        (" onnx ", ("onnx", None)),
    ],
)
def test_parse_teacher(text, expected):
    assert parse_teacher(text) == expected


@pytest.mark.parametrize(
    "text,match",
    [
        ("edgel3:sea_ust_6", r"edgel3 teacher 'sea_ust_6' is unknown \(did you mean 'sea_ust_64'\?\)"),
        ("edgl3", r"'edgl3' is not a teacher family \(did you mean 'edgel3'\?\)"),
        ("birdnet:v2.5", r"did you mean 'v2.4'"),
        ("openl3:mel256_music_513", r"did you mean 'mel256_music_512'"),
        ("tflite:a/b", "letters, digits"),
        ("", "FAMILY:NAME"),
    ],
)
def test_parse_teacher_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_teacher(text)


# -- the config: run-config section, shorthand, defaults, validation ---------------------------------------


def test_run_config_teacher_section_validates(tmp_path):
    w = tmp_path / "edgel3_sea_ust_audio_emb_64.h5"
    w.write_bytes(b"x")
    cfg = config_from_dict(ExtractConfig, {"model": "edgel3", "name": "sea_ust_64", "weights": str(w)})
    assert (cfg.model, cfg.name, cfg.embedding_size, cfg.hop_size) == ("edgel3", "sea_ust_64", 64, 0.1)
    assert variant_name(cfg) == "edgel3_sea_ust_64"
    spec = resolve_teacher(cfg)
    assert (spec.sr, spec.window_size, spec.window_length, spec.embedding_size) == (8000, 1.0, 8000, 64)
    assert spec.weights == str(w) and spec.weights_sha256 == hashlib.sha256(b"x").hexdigest()
    # the shorthand in the model key, as --teacher gives it
    short = config_from_dict(ExtractConfig, {"model": "edgel3:sea_ust_128"})
    assert (short.model, short.name, short.embedding_size) == ("edgel3", "sea_ust_128", 128)
    bird = config_from_dict(ExtractConfig, {"model": "birdnet"})
    assert (bird.name, bird.embedding_size, bird.hop_size, variant_name(bird)) == ("v2.4", 1024, 0.5, "birdnet_v2.4")
    o = config_from_dict(ExtractConfig, {"model": "openl3:mel128_env_6144"})
    assert (o.input_repr, o.content_type, o.embedding_size, variant_name(o)) == (
        "mel128",
        "env",
        6144,
        "mel128_env_6144",
    )
    assert variant_name(ExtractConfig()) == "mel256_music_512"


@pytest.mark.parametrize(
    "values,match",
    [
        ({"model": "edgel3:sea_ust_6"}, r"did you mean 'sea_ust_64'"),
        ({"model": "edgel3", "name": "sea_ust_65"}, r"did you mean 'sea_ust_64'"),
        ({"modle": "birdnet"}, r"'modle' \(did you mean 'model'\?\)"),
        ({"model": "edgel3:sea_ust_64", "name": "sea_ust_128"}, "disagree"),
        ({"model": "birdnet", "window_size": 1.0}, "its window_size is 3.0"),
        ({"model": "edgel3", "sr": 16000}, "its sr is 8000"),
        ({"model": "birdnet", "untrained_teacher": True}, "openl3 teacher only"),
        ({"model": "edgel3", "input_repr": "mel128"}, "input_repr='mel128' applies to the openl3 teacher only"),
        ({"model": "edgel3", "embedding_size": 128}, "is 64-d"),
        ({"model": "birdnet", "output": "logits"}, "tflite/onnx teachers only"),
        ({"model": "tflite"}, "missing: weights, input, window_size, embedding_size"),
        (
            {"model": "onnx", "weights": "m.onnx", "input": "waveform", "window_size": 1.0, "embedding_size": 8},
            "missing: sr",
        ),  # fmt: skip
        (
            {
                "model": "onnx",
                "weights": "m.onnx",
                "input": "wave",
                "sr": 16000,
                "window_size": 1.0,
                "embedding_size": 8,
            },
            "not allowed",
        ),  # fmt: skip
        (
            {
                "model": "onnx",
                "weights": "m.onnx",
                "input": "logmel",
                "sr": 16000,
                "window_size": 1.0,
                "embedding_size": 8,
            },
            "computed at 8000 Hz",
        ),  # fmt: skip
        ({"model": "openl3", "embedding_size": 128}, r"embedding_size=128.*512, 6144"),
        ({"model": "openl3", "hop_size": 0}, "hop_size"),
        ({"model": "birdnet", "hop_size": -1.0}, "hop_size"),
    ],
)
def test_config_errors(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(ExtractConfig, values)


def test_openl3_config_record_keeps_its_hash():
    """An openl3 store made before the registry stays up to date: the recorded config is the old one."""
    old = {
        "input_repr": "mel256", "content_type": "music", "embedding_size": 512, "frontend": "kapre", "hop_size": 0.1,
        "center": True, "batch_size": 64, "dtype": "float16", "shard_size": 65536, "weights": None,
        "untrained_teacher": False, "precision": "float32", "device": "cpu", "seed": 0,
    }  # fmt: skip
    assert config_record(ExtractConfig()) == old
    rec = config_record(ExtractConfig(model="birdnet"))
    assert rec["model"] == "birdnet" and rec["name"] == "v2.4"


def test_teacher_flag_on_extract(tiny_run):
    from sea.cli import teacher as teacher_cli

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=None)
    teacher_cli.register(parser.add_subparsers(), "teacher", "the teacher group")
    args = parser.parse_args(["teacher", "extract", str(tiny_run), "--teacher", "edgel3:sea_ust_64"])
    assert args.model == "edgel3:sea_ust_64"
    from sea.config import config_from_args

    cfg = config_from_args(ExtractConfig, args)
    assert (cfg.model, cfg.name, variant_name(cfg)) == ("edgel3", "sea_ust_64", "edgel3_sea_ust_64")


# -- specs and identity --------------------------------------------------------------------------------------


def test_spec_identity_round_trip(tmp_path):
    spec = resolve_teacher(ExtractConfig(untrained_teacher=True, seed=3, input_repr="mel128"))
    ident = spec.identity()
    for key in ("family", "name", "sr", "window_size", "hop_size", "embedding_size", "weights", "weights_sha256",
                "untrained"):  # fmt: skip
        assert key in ident
    assert (ident["family"], ident["name"], ident["untrained"], ident["seed"]) == (
        "openl3",
        "mel128_music_512",
        True,
        3,
    )
    again = resolve_teacher(json.loads(json.dumps(ident)))
    assert again == spec
    assert resolve_teacher("birdnet", find_weights=False).identity()["output"] == "model/GLOBAL_AVG_POOL/Mean"
    b = resolve_teacher(resolve_teacher("birdnet", find_weights=False).identity(), find_weights=False)
    assert (b.family, b.window_size, b.sr, b.variant) == ("birdnet", 3.0, 48000, "birdnet_v2.4")
    values = teacher_values({"family": "edgel3", "name": "sea_ust_256", "untrained": False})
    assert values["model"] == "edgel3" and values["embedding_size"] == 256


def test_openl3_untrained_model_and_cost():
    with pytest.warns(Warning):
        model, spec = load_teacher_model(ExtractConfig(untrained_teacher=True, input_repr="mel128"))
    x = np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32) * 0.1
    y = model(x)
    assert isinstance(y, np.ndarray) and y.shape == (2, 512) and y.dtype == np.float32
    assert model.spec is spec and spec.untrained and spec.options["seed"] == 0
    from sea.teacher import N_PARAMETERS, conv_macs

    assert teacher_cost(spec) == {"params": N_PARAMETERS, "macs": conv_macs("mel128")}
    assert teacher_cost("openl3")["macs"] == conv_macs("mel256")


# -- edgel3: the family, wired to sea.students.published -----------------------------------------------------


class FakePublished(torch.nn.Module):
    """Stands in for a published SEA student: [B, 8000] -> [B, 64], post-ReLU."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.Parameter(torch.randn(80, 64, generator=g, dtype=torch.float64), requires_grad=False)

    def forward(self, x):
        return torch.relu(x.double().reshape(x.shape[0], 80, 100).abs().mean(-1) @ self.w).float()


@pytest.fixture
def fake_published(monkeypatch, tmp_path):
    weights = tmp_path / "edgel3_sea_ust_audio_emb_64.h5"
    weights.write_bytes(b"fake weights")
    calls = []

    def load_published(name, weights=None):
        calls.append((name, weights))
        return FakePublished(), {"weights_path": str(weights) if weights else None}

    import sea.students  # first: the real package (and whatever it imports) loads as usual

    mod = types.ModuleType("sea.students.published")
    mod.load_published = load_published
    monkeypatch.setitem(sys.modules, "sea.students.published", mod)
    monkeypatch.setattr(sea.students, "published", mod, raising=False)
    return weights, calls


def test_edgel3_family_extracts_at_8k(tmp_path, fake_published):
    weights, calls = fake_published
    run = make_run(tmp_path / "run", n_clips=3, duration=1.5)
    cfg = ExtractConfig(model="edgel3:sea_ust_64", weights=str(weights), batch_size=7, shard_size=20, dtype="float32")
    out = extract(run, cfg)
    assert out == run / "teacher" / "edgel3_sea_ust_64" and calls == [("sea_ust_64", str(weights))]
    store = FrameStore(out)
    t = store.teacher
    assert (t["family"], t["name"], t["sr"], t["window_size"], t["embedding_size"]) == (
        "edgel3",
        "sea_ust_64",
        8000,
        1.0,
        64,
    )
    assert t["weights_sha256"] == hashlib.sha256(b"fake weights").hexdigest() and t["untrained"] is False
    assert store.meta["sr"] == 8000 and store.dim == 64
    from sea.cache import AudioCache
    from sea.framing import windows

    cache = AudioCache(run, 8000)
    for c, sl in store.clip_slices().items():
        y = cache.get(c)
        assert sl.stop - sl.start == n_frames(y.shape[0], 8000)
        ref = FakePublished()(torch.from_numpy(windows(y, 8000))).numpy()
        np.testing.assert_allclose(store.read(np.arange(sl.start, sl.stop)), ref, rtol=1e-6, atol=1e-7)
    st = read_stage(out)
    assert st["teacher"]["family"] == "edgel3" and set(st["inputs"]) == {"clips", "audio", "weights"}
    assert st["inputs"]["audio"]  # the 8 kHz cache is the input
    assert "audio/8000" in st["input_paths"]["audio"]
    # the cost of the published student comes from the student's own count
    assert teacher_cost(t) == {"params": 80 * 64, "macs": None}  # no log-mel network to count MACs on
    # rebuilt from the store's record (as evaluation does); other weights at that path are refused
    model, spec = load_teacher_model(t)
    assert spec.variant == "edgel3_sea_ust_64" and model(np.zeros((2, 8000), np.float32)).shape == (2, 64)
    weights.write_bytes(b"other weights")
    with pytest.raises(WeightsError, match="are not the ones recorded"):
        load_teacher_model(t)


def test_edgel3_family_without_published_module(monkeypatch, tiny_run):
    import sea.students  # noqa: F401

    monkeypatch.setitem(sys.modules, "sea.students.published", None)  # import fails
    with pytest.raises(SeaError, match="sea.students.published"):
        load_teacher_model("edgel3:sea_ust_64")


def test_edgel3_real_published_student(tmp_path):
    """The shared sea_ust_64 through the registry: 64-d, post-ReLU, identity with the pinned sha256."""
    h5 = shared_path("models", "edgel3_sea_ust_audio_emb_64.h5.gz")
    try:
        import sea.students.published  # noqa: F401
    except ImportError:
        pytest.skip("sea.students.published (the students helper's loader) is not in this checkout yet")
    model, spec = load_teacher_model({"model": "edgel3", "name": "sea_ust_64", "weights": str(h5)})
    assert spec.sr == 8000 and spec.embedding_size == 64 and spec.weights_sha256
    x = np.random.default_rng(0).standard_normal((3, 8000)).astype(np.float32) * 0.1
    y = model(x)
    assert y.shape == (3, 64) and (y >= 0).all() and np.isfinite(y).all()
    cost = teacher_cost(spec)
    assert cost["params"] > 0 and cost["macs"] > 0


def test_spec_is_frozen():
    spec = TeacherSpec("tflite", "m", 16000, 1.0, 0.1, 8)
    with pytest.raises(AttributeError):
        spec.sr = 8000
    assert spec.variant == "tflite_m" and spec.window_length == 16000
    assert registry.FAMILIES[0] == "openl3"
