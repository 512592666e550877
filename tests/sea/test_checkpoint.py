"""sea.checkpoint: deterministic bytes, safe loading."""

from __future__ import annotations

import hashlib

import torch

from sea.checkpoint import load_checkpoint, save_checkpoint


def test_identical_checkpoints_are_identical_bytes(tmp_path):
    # the stage that follows hashes the checkpoint file: a random name inside the zip would change it every run
    ckpt = {"model_name": "m", "model_args": {"a": 1}, "state_dict": {"w": torch.arange(6.0)}}
    digests = set()
    for name in ("a.pt", "b.pt", "sub/c.pt"):
        save_checkpoint(tmp_path / name, ckpt)
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")["state_dict"]["w"], torch.arange(6.0))
