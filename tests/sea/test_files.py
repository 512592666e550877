"""sea.files: inputs expanded once, nothing dropped silently, output names never collide."""

from __future__ import annotations

import pytest

from sea.errors import ParameterError, SeaWarning
from sea.files import FileReport, expand_inputs, output_paths
from tests.broken_audio import make_corpus


def test_directories_list_every_audio_named_entry_even_broken_ones(tmp_path):
    cases = make_corpus(tmp_path / "c")
    found = {p.name for p in expand_inputs([tmp_path / "c"])}
    assert found == set(cases)  # dir_named.wav and the symlink loop included: the command reports them


def test_missing_input_is_an_error_and_duplicates_collapse(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    assert expand_inputs([tmp_path / "a.wav", tmp_path / "a.wav", tmp_path]) == [tmp_path / "a.wav"]
    with pytest.raises(ParameterError, match="nope.wav.*does not exist"):
        expand_inputs([tmp_path / "nope.wav"])


def test_same_stems_keep_their_extension_with_a_warning(tmp_path):
    ins = [tmp_path / "a.flac", tmp_path / "a.ogg", tmp_path / "b.wav"]
    with pytest.warns(SeaWarning, match="share the output name a.npz"):
        out = output_paths(ins, tmp_path / "o", suffix=None)
    assert [p.name for p in out.values()] == ["a_flac.npz", "a_ogg.npz", "b.npz"]
    assert output_paths([tmp_path / "b.wav"], None, suffix="x")[tmp_path / "b.wav"] == tmp_path / "b_x.npz"
    (tmp_path / "file").write_text("")
    with pytest.raises(ParameterError, match="existing file"):
        output_paths(ins, tmp_path / "file")


def test_report_lists_failures_and_exits_1(tmp_path):
    r = FileReport()
    r.written.append(tmp_path / "a.npz")
    assert r.exit_code == 0
    r.fail(tmp_path / "b.wav", ValueError("bad\nsecond line"))
    assert r.exit_code == 1 and "failed: " in r.summary() and "ValueError: bad" in r.summary()
    assert "second line" not in r.summary()
