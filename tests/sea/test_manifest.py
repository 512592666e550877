import json

import pytest

from sea.errors import ManifestError
from sea.manifest import ClipRecord, read_manifest, write_manifest


def _rec(i, **kw):
    d = dict(
        clip_id=f"c{i}", path=f"audio/c{i}.wav", duration=1.5, sr=44100, channels=2, label="siren", label_id=8, fold=1
    )
    d.update(kw)
    return ClipRecord(**d)


def test_round_trip(tmp_path):
    recs = [
        _rec(0),
        _rec(1, label=["engine", "dog"], label_id=[0, 7], fold=None, split="train", meta={"sensor_id": "s1"}),
    ]
    p = write_manifest(recs, tmp_path)
    assert p.name == "clips.jsonl"
    back = read_manifest(tmp_path)
    assert back == recs
    assert json.loads(p.read_text().splitlines()[0])["schema"] == 1


def test_errors(tmp_path):
    with pytest.raises(ManifestError, match="run 'sea data prepare'"):
        read_manifest(tmp_path)
    p = tmp_path / "clips.jsonl"
    p.write_text('{"clip_id": "a", "path": "x.wav"}\n')
    with pytest.raises(
        ManifestError, match=r"clips.jsonl:1: missing required field\(s\) \['duration', 'sr', 'channels'\]"
    ):
        read_manifest(p)
    write_manifest([_rec(0), _rec(0)], p)
    with pytest.raises(ManifestError, match="duplicate clip_id 'c0'"):
        read_manifest(p)
    p.write_text("{not json\n")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(p)
    write_manifest([_rec(0, split="dev")], p)
    with pytest.raises(ManifestError, match="split='dev' must be one of"):
        read_manifest(p)


@pytest.mark.parametrize(
    "line, message",
    [
        ('"just a string"', r"clips.jsonl:2: expected a JSON object \(one clip record\), got str"),
        ('{"clip_id": "b", "path": "b.wav", "duration": "2 s", "sr": 8000, "channels": 1}', "duration='2 s' must be a number"),
        ('{"clip_id": "b", "path": "b.wav", "duration": 1, "sr": 8000.5, "channels": 1}', "sr=8000.5 must be an integer"),
        ('{"clip_id": 7, "path": "b.wav", "duration": 1, "sr": 8000, "channels": 1}', "clip_id=7 must be a string"),
        ('{"clip_id": "b", "path": "b.wav", "duration": 1, "sr": 8000, "channels": true}', "channels=True must be an integer"),
        ('{"clip_id": "b", "path": "b.wav", "duration": 1, "sr": 8000, "channels": 1, "label": ["a", 3]}', "label=\\['a', 3\\]"),
        ('{"clip_id": "b", "path": "b.wav", "duration": 1, "sr": 8000, "channels": 1, "meta": "x"}', "meta='x' must be an object"),
        ("[" * 100000, "clips.jsonl:2: not (valid JSON|a clip record)"),
    ],
)  # fmt: skip
def test_garbage_lines_are_named(tmp_path, line, message):
    p = write_manifest([_rec(0)], tmp_path)
    p.write_text(p.read_text() + line + "\n")
    with pytest.raises(ManifestError, match=message) as e:
        read_manifest(p)
    assert "\n" not in str(e.value)
    p.write_bytes(p.read_bytes().splitlines()[0] + b"\n\xff\xfe binary\n")
    with pytest.raises(ManifestError, match="clips.jsonl:2: not UTF-8"):
        read_manifest(p)
