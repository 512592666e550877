from dataclasses import dataclass, field
from typing import Literal

import pytest

from sea.config import add_config_arguments, config_from_args, config_hash, config_to_dict, load_config
from sea.errors import ConfigError


@dataclass(frozen=True)
class DemoConfig:
    dim: int = field(default=64, metadata={"help": "PCA dimensions"})
    lr: float = field(default=1e-4, metadata={"help": "learning rate"})
    sampler: Literal["random", "spl"] = field(default="random", metadata={"help": "sampler"})
    srs: tuple[int, ...] = field(default=(48000, 8000), metadata={"help": "rates"})
    weights: str | None = field(default=None, metadata={"help": "weights path"})
    center: bool = field(default=True, metadata={"help": "centre frames"})

    def validate(self):
        if self.dim <= 0:
            raise ConfigError(f"dim={self.dim} must be > 0")


def test_defaults_yaml_then_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("dim: 128\nlr: 0.001\nsrs: [16000]\n")
    cfg = load_config(DemoConfig, y, {"lr": 0.5, "weights": None})
    assert cfg.dim == 128 and cfg.lr == 0.5 and cfg.srs == (16000,) and cfg.weights is None


def test_unknown_key_lists_valid_keys(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("dimm: 3\n")
    with pytest.raises(
        ConfigError, match=r"unknown DemoConfig key\(s\) 'dimm' \(did you mean 'dim'\?\); valid keys are: dim, lr, sampler"
    ):
        load_config(DemoConfig, y)
    y.write_text("zzz: 3\n")  # nothing close: no suggestion
    with pytest.raises(ConfigError, match=r"key\(s\) 'zzz'; valid keys"):
        load_config(DemoConfig, y)


def test_wrong_type_and_literal_and_validate():
    with pytest.raises(ConfigError, match=r"DemoConfig.dim='abc' has the wrong type; expected int"):
        load_config(DemoConfig, overrides={"dim": "abc"})
    with pytest.raises(ConfigError, match=r"sampler='dpp' is not allowed; choose one of 'random', 'spl'"):
        load_config(DemoConfig, overrides={"sampler": "dpp"})
    with pytest.raises(ConfigError, match=r"dim=-1 must be > 0"):
        load_config(DemoConfig, overrides={"dim": -1})


def test_section_and_bad_yaml(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("targets:\n  dim: 32\n")
    assert load_config(DemoConfig, y, section="targets").dim == 32
    y.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(DemoConfig, y)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(DemoConfig, tmp_path / "nope.yaml")


def test_argparse_flags_override_yaml(tmp_path):
    import argparse

    y = tmp_path / "c.yaml"
    y.write_text("dim: 128\nsampler: spl\n")
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    add_config_arguments(p, DemoConfig)
    args = p.parse_args(["--config", str(y), "--dim", "7", "--no-center", "--srs", "8000,16000"])
    cfg = config_from_args(DemoConfig, args)
    assert (cfg.dim, cfg.sampler, cfg.center, cfg.srs) == (7, "spl", False, (8000, 16000))
    assert config_to_dict(cfg)["srs"] == [8000, 16000]
    assert config_hash(cfg) != config_hash(DemoConfig())
