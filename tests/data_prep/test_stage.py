import json
import warnings

import pytest

from data_prep.config import GENERATION_FIELDS, PrepareConfig
from data_prep.stage import prepare_from_config, run
from sea.config import config_from_dict
from sea.errors import ConfigError, DatasetError, SeaWarning
from sea.manifest import read_manifest


def test_run_synthetic_from_config(tmp_path):
    config = PrepareConfig(dataset="synthetic", cache_srs=(8000,), n_clips=4, duration=1.0, synth_seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        manifest = run(tmp_path / "run", config)
    assert manifest == tmp_path / "run" / "clips.jsonl" and len(read_manifest(manifest)) == 4
    made = json.loads((tmp_path / "run" / "raw" / "synthetic.json").read_text())
    assert (made["n_clips"], made["seed"], made["duration"]) == (4, 3, 1.0)
    recorded = json.loads((tmp_path / "run" / "stage.json").read_text())["config"]
    # the generator's options describe the raw set (fingerprinted file by file), not the prepare
    assert not set(GENERATION_FIELDS) & set(recorded)
    assert recorded["raw_dir"] == str((tmp_path / "run" / "raw").resolve())
    # keywords of prepare_from_config override the config: another seed would replace the set
    with pytest.raises(DatasetError, match="already holds a synthetic set"):
        prepare_from_config(config, tmp_path / "run", seed=4)


def test_generation_options_only_for_synthetic():
    with pytest.raises(ConfigError, match="n_clips= only apply to the synthetic dataset, not 'esc50'"):
        config_from_dict(PrepareConfig, {"dataset": "esc50", "raw_dir": "x", "n_clips": 3})


def test_run_needs_raw_dir(tmp_path):
    with pytest.raises(ConfigError, match="dataset 'esc50' needs RAW_DIR"):
        run(tmp_path / "run", PrepareConfig(dataset="esc50"))
