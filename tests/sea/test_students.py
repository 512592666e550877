"""Student registry, paper students (exact counts), _lin variants, MCU family and cost counting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from sea import students
from sea.errors import ConfigError
from sea.students import MCU_BUDGET, SeaStudent, create, list_students, model_cost, register_student

PAPER_COUNTS = {0: 4_688_066, 1: 1_173_602, 2: 583_010, 3: 398_306}
PAPER_DIMS = {0: 512, 1: 256, 2: 128, 3: 64}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _x(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return -80 * torch.rand(b, 1, 64, 50, generator=g)


def _trainable(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("idx", [0, 1, 2, 3])
def test_paper_parameter_counts_exact(idx):
    for suffix in ("", "_lin"):
        m = create(f"sea_student_{idx}{suffix}")
        assert _trainable(m) == PAPER_COUNTS[idx], suffix
        assert m.embedding_dim == PAPER_DIMS[idx]
        bns = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
        assert len(bns) == 9 and all(bn.eps == 1e-3 for bn in bns)


def test_paper_architecture_layout():
    m = create("sea_student_3")
    types = [type(mod).__name__ for mod in m.features]
    assert types[0] == "BatchNorm2d" and types.count("Conv2d") == 8 and types.count("MaxPool2d") == 3
    assert types.count("ReLU") == 8
    assert types.count("ReLU") - 1 == [type(mod).__name__ for mod in create("sea_student_3_lin").features].count("ReLU")
    assert not any("Adaptive" in t for t in types)
    assert tuple(m.forward_features(_x(1)).shape) == (1, 64, 8, 6)


def test_every_student_shapes_attributes_and_rebuild():
    names = list_students()
    assert {f"sea_student_{i}{s}" for i in range(4) for s in ("", "_lin")} <= set(names)
    assert len(list_students("sea_mcu_*")) >= 2
    x = _x(2)
    for name in names:
        m = create(name).eval()
        y = m(x)
        assert m.input_shape == (1, 64, 50)
        assert y.shape == (2, m.embedding_dim), name
        assert m.model_name == name and m.model_args == {}
        m2 = create(m.model_name, **m.model_args)
        m2.load_state_dict(m.state_dict())
        assert torch.equal(m2.eval()(x), y)


def test_out_dim_and_linear_head():
    m = create("sea_student_3", out_dim=128)
    assert m.embedding_dim == 128 and m.model_args == {"out_dim": 128}
    assert m(_x(2)).shape == (2, 128)
    assert _trainable(m) == PAPER_COUNTS[3] + 64 * 128 + 128
    m = create("sea_student_2_lin", head="linear")
    assert m.embedding_dim == 128 and m(_x(2)).shape == (2, 128)
    m = create("sea_mcu_s", out_dim=32)
    assert m.embedding_dim == 32 and m(_x(2)).shape == (2, 32)
    rebuilt = create(m.model_name, **json.loads(json.dumps(m.model_args)))
    assert rebuilt.embedding_dim == 32


def test_lin_students_reach_negative_outputs_relu_ones_cannot():
    x = _x(8)
    for idx in range(4):
        pair = {}
        for suffix in ("", "_lin"):
            torch.manual_seed(idx)
            m = create(f"sea_student_{idx}{suffix}").eval()
            m.features[-1 if suffix == "_lin" else -2].bias.data.fill_(-3.0)  # last BN's beta
            pair[suffix] = m(x)
        assert pair[""].min() >= 0, idx
        assert (pair["_lin"] < 0).any(), idx
    # default MCU students have a linear head: signed outputs
    torch.manual_seed(0)
    y = create("sea_mcu_xs").eval()(x)
    assert (y < 0).any() and (y > 0).any()
    assert create("sea_mcu_xs", final_relu=True).eval()(x).min() >= 0


def test_unknown_student_and_option_errors():
    with pytest.raises(ConfigError) as exc:
        create("sea_student_9")
    msg = str(exc.value)
    assert "sea_student_9" in msg and "sea_student_3_lin" in msg and "sea_mcu_s" in msg
    with pytest.raises(ConfigError, match="outdim"):
        create("sea_student_3", outdim=3)
    with pytest.raises(ConfigError, match="head"):
        create("sea_student_3", head="mlp")
    with pytest.raises(ConfigError, match="stage"):
        create("sea_mcu_s", stages=[["lstm", 3, 1, 1]])


def test_register_student_decorator():
    @register_student("test_tiny_student_xyz")
    def _factory(width: int = 4):
        """A tiny test student."""
        m = SeaStudent((width, width, width, width))
        return m

    try:
        assert list_students("test_tiny_*") == ["test_tiny_student_xyz"]
        m = create("test_tiny_student_xyz", width=2)
        assert m.model_args == {"width": 2} and m.embedding_dim == 2
        assert students.student_description("test_tiny_student_xyz") == "A tiny test student."
        with pytest.raises(ValueError, match="already registered"):
            register_student("test_tiny_student_xyz")(lambda: None)
    finally:
        from sea.students import registry

        registry._REGISTRY.pop("test_tiny_student_xyz", None)


# --- cost counting -----------------------------------------------------------------------------------------------


def test_cost_matches_paper_derived_numbers():
    c3 = model_cost(create("sea_student_3"))
    assert abs(c3["macs"] - 122.4e6) / 122.4e6 < 0.01
    assert c3["macs"] == 122_425_344
    assert c3["trainable_params"] == c3["params"] == PAPER_COUNTS[3]
    assert c3["largest_activation_bytes"] == 102_400 * 4  # SEA Table 1 "Act. mem." 0.41 MB
    assert c3["peak_activation_bytes_int8"] == 2 * 102_400  # conv1 + conv2 outputs of block 1 live together
    assert c3["peak_activation_bytes_fp32"] == 4 * c3["peak_activation_bytes_int8"]
    assert c3["weight_bytes_fp32"] == 4 * PAPER_COUNTS[3]  # SEA Table 1 "Model size" 1.60 MB
    assert c3["output_dim"] == 64 and c3["input_shape"] == [1, 64, 50]
    c0 = model_cost(create("sea_student_0"))
    assert abs(c0["macs"] - 636.5e6) / 636.5e6 < 0.01
    assert c0["largest_activation_bytes"] == 204_800 * 4  # 0.82 MB


def test_cost_teacher_sized_network():
    # the L3 audio teacher body: same blocks, 256x199 mel input; 10.20 G conv MACs, 3,260,416-float conv1 output
    teacher_like = SeaStudent((64, 128, 256, 512), input_shape=(1, 256, 199))
    c = model_cost(teacher_like, (1, 256, 199))
    assert c["trainable_params"] == 4_688_066
    assert abs(c["macs"] - 10.20e9) / 10.20e9 < 0.01
    assert c["largest_activation_elements"] == 256 * 199 * 64


def test_cost_grouped_conv_linear_and_skip_liveness():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, padding=1)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.bn = nn.BatchNorm2d(8)
            self.pw = nn.Conv2d(8, 8, 1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            a = torch.relu(self.c1(x))  # 8x10x10 = 800
            b = self.bn(self.dw(a))  # BN folds into dw: no extra buffer
            c = self.pw(b) + a  # skip: a stays live until the add
            return self.fc(torch.amax(c, dim=(2, 3)))

    c = model_cost(Skip(), (1, 10, 10))
    assert c["macs"] == 100 * 8 * 9 + 100 * 8 * 9 + 100 * 8 * 8 + 8 * 5
    # at the pw conv: a (skip), b (its input) and its output -> 3 x 800; at the add: a, pw out, sum -> 2400 too
    assert c["peak_activation_bytes_int8"] == 3 * 800
    assert c["largest_activation_elements"] == 800
    # int8 weights: convs/linear 1 B per weight + int32 bias per output channel; BN folded -> 0
    assert c["weight_bytes_int8"] == (72 + 32) + (72 + 32) + (64 + 32) + (40 + 20)
    rows = students.layer_summary(Skip(), (1, 10, 10))
    by = {r["name"]: r for r in rows}
    assert by["dw"]["macs"] == 7200 and by["fc"]["macs"] == 40 and by["pw"]["output_shape"] == [1, 8, 10, 10]


def test_cost_input_bn_is_not_folded_and_training_mode_restored():
    m = create("sea_student_3").train()
    c = model_cost(m)
    assert m.training
    # input BN: 1 channel, 8 B; the 8 conv-following BNs fold
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    expected = 8 + sum(cv.weight.numel() + 4 * cv.out_channels for cv in convs)
    assert c["weight_bytes_int8"] == expected


@pytest.mark.parametrize("name", ["sea_mcu_xs", "sea_mcu_s", "sea_mcu_m"])
def test_mcu_family_meets_budgets(name):
    c = model_cost(create(name))
    assert c["macs"] <= MCU_BUDGET["macs"] == 20_000_000
    assert c["peak_activation_bytes_int8"] <= MCU_BUDGET["peak_activation_bytes_int8"] == 65_536
    assert c["weight_bytes_int8"] <= MCU_BUDGET["weight_bytes_int8"] == 150_000
    assert c["output_dim"] == 64


def test_mcu_family_is_a_trade_off_curve_and_uses_only_convertible_ops():
    costs = [model_cost(create(n)) for n in ("sea_mcu_xs", "sea_mcu_s", "sea_mcu_m")]
    assert costs[0]["macs"] < costs[1]["macs"] < costs[2]["macs"]
    assert costs[0]["params"] < costs[1]["params"] < costs[2]["params"]
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.Linear, nn.Sequential, nn.Identity)
    for n in list_students():
        m = create(n)
        bad = [type(mod).__name__ for mod in m.modules() if mod is not m and not isinstance(mod, allowed)]
        assert not bad, (n, bad)
    m = create("sea_mcu_s")
    # plain convs: the depthwise variants lost int8 parity (see sea/students/mcu.py); ds stages stay available
    assert all(mod.groups == 1 for mod in m.modules() if isinstance(mod, nn.Conv2d))
    assert m.features[1].stride == (2, 2)  # early stride
    ds = create("sea_mcu_s", stages=[["ds", 32, 1, 1], ["ds", 64, 2, 1]])
    assert any(mod.groups > 1 for mod in ds.modules() if isinstance(mod, nn.Conv2d))


# --- CLI -------------------------------------------------------------------------------------------------------------


def test_cli_students_list_and_show(capsys):
    from sea.cli import main

    assert main(["students", "list"]) == 0
    out = capsys.readouterr().out
    for idx, n in PAPER_COUNTS.items():
        line = next(ln for ln in out.splitlines() if ln.startswith(f"sea_student_{idx} "))
        assert f"{n:,}" in line
    assert "sea_mcu_xs" in out and "122.4 M" in out
    assert main(["students", "list", "--pattern", "sea_student_?", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [f"sea_student_{i}" for i in range(4)]
    assert [r["trainable_params"] for r in rows] == list(PAPER_COUNTS.values())
    assert main(["students", "show", "sea_student_3"]) == 0
    out = capsys.readouterr().out
    assert "features.1" in out and "921,600" in out and "398,306" in out
    assert main(["students", "show", "sea_mcu_s", "--arg", "out_dim=16", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["cost"]["output_dim"] == 16 and d["model_args"] == {"out_dim": 16}
    assert main(["students", "show", "nope"]) == 1
    assert "sea_student_0" in capsys.readouterr().err
    # per 3-s window (BirdNET's): every student built for 150 frames, MACs counted per such window
    assert main(["students", "list", "--pattern", "sea_student_3", "--window-size", "3", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["input_shape"] == [1, 64, 150] and row["macs"] == 370_814_976
    assert main(["students", "show", "sea_mcu_s", "--window-size", "3"]) == 0
    assert "input 1x64x150" in capsys.readouterr().out


# --- windows of any length (issue 15 §2) -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_frames", [50, 51, 99, 150, 400])
def test_every_student_takes_windows_of_any_length(n_frames):
    x = -80 * torch.rand(2, 1, 64, n_frames, generator=torch.Generator().manual_seed(n_frames))
    for name in list_students():
        m = create(name, input_shape=(1, 64, n_frames)).eval()
        assert m.input_shape == (1, 64, n_frames), name
        with torch.no_grad():
            y = m(x)
        assert y.shape == (2, m.embedding_dim), (name, n_frames)
        # model_args carry the shape, so a checkpoint rebuilds the same network
        rebuilt = create(m.model_name, **json.loads(json.dumps(m.model_args)))
        assert rebuilt.input_shape == (1, 64, n_frames)


def test_one_second_outputs_unchanged_by_the_window_parameter():
    # same weights, default vs explicit 1-s shape: identical outputs; a paper student's last pool stays the 8x6 max
    x = _x(3)
    for name in list_students():
        torch.manual_seed(0)
        a = create(name).eval()
        b = create(name, input_shape=(1, 64, 50)).eval()
        b.load_state_dict(a.state_dict())
        with torch.no_grad():
            assert torch.equal(a(x), b(x)), name
    m = create("sea_student_3").eval()
    with torch.no_grad():
        fmap = m.forward_features(x)
        assert fmap.shape[2:] == (8, 6)
        keras_pool = torch.nn.functional.max_pool2d(fmap, (8, 6)).flatten(1)  # Keras MaxPooling2D((8, 6))
        assert torch.equal(m(x), keras_pool)


def test_three_second_window_sees_150_frames_and_global_max_pool():
    from sea.students.frontend import StudentFrontend, frontend_params

    p = frontend_params(3.0)
    assert p["n_frames"] == 150 and p["output_shape"] == [1, 64, 150] and p["window_length"] == 24000
    fe = StudentFrontend(params=p)
    logmel = fe(torch.randn(2, 24000) * 0.1)
    assert logmel.shape == (2, 1, 64, 150)
    m = create("sea_mcu_s", input_shape=tuple(p["output_shape"])).eval()
    with torch.no_grad():
        assert m(logmel).shape == (2, 64)
    s3 = create("sea_student_3", input_shape=(1, 64, 150)).eval()
    with torch.no_grad():
        fmap = s3.forward_features(logmel)
        assert fmap.shape[2:] == (8, 18)
        np.testing.assert_array_equal(s3(logmel).numpy(), fmap.amax(dim=(2, 3)).numpy())


def test_macs_count_per_window_of_its_length():
    for name in ("sea_student_3", "sea_mcu_s"):
        one = model_cost(create(name))
        three = model_cost(create(name, input_shape=(1, 64, 150)), (1, 64, 150))
        assert three["input_shape"] == [1, 64, 150]
        assert 2.8 < three["macs"] / one["macs"] < 3.1, name  # conv work scales with the frames
    # the paper students keep their weights; the MCU stride-2 kernels follow each axis' parity (no PAD op on export)
    assert model_cost(create("sea_student_3", input_shape=(1, 64, 150)))["params"] == PAPER_COUNTS[3]
    # Student 3: every conv is 'same', so exactly 3x the MACs on 150 frames (64x150 -> 32x75 -> 16x37 -> 8x18)
    c = model_cost(create("sea_student_3", input_shape=(1, 64, 150)), (1, 64, 150))
    f = (32, 64, 128, 64)
    hw = [(64, 150), (32, 75), (16, 37), (8, 18)]
    cin = [1, 32, 64, 128]
    want = sum(h * w * 9 * (ci * co + co * co) for (h, w), ci, co in zip(hw, cin, f))
    assert c["macs"] == want


@pytest.mark.parametrize("bad", [(1, 64), (1, 64, 7), (0, 64, 50), (1, 64, 50.5), "1x64x50", (1, 4, 50)])
def test_bad_input_shape_is_a_config_error(bad):
    for name in ("sea_student_3", "sea_mcu_s"):
        with pytest.raises(ConfigError, match="input_shape"):
            create(name, input_shape=bad)


def test_unknown_student_suggests_within_its_family():
    with pytest.raises(ConfigError) as exc:
        create("sea_mcu_ss")
    msg = str(exc.value)
    assert "did you mean 'sea_mcu_s'?" in msg
    assert "did you mean 'sea_student" not in msg
    for typo, want in [("sea_student_9", "sea_student_3"), ("sea_studnet_3_lin", "sea_student_3_lin"),
                       ("sea_mcu_xl", "sea_mcu_xs"), ("sea_student_2_ln", "sea_student_2_lin")]:  # fmt: skip
        with pytest.raises(ConfigError, match=f"did you mean '{want}'"):
            create(typo)
    with pytest.raises(ConfigError, match="load_published") as exc:
        create("sea_ust_64")
    assert "did you mean" not in str(exc.value)
