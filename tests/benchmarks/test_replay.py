"""Replay: the GIF has one frame per step plus the reset frame."""

from __future__ import annotations

import pytest
from PIL import Image

from stemscan.benchmarks.replay import record_episode, write_gif

ENV = {"image_size": 64, "patch_size": 16, "dose_budget": 0.3}


def test_replay_writes_an_animated_gif(tmp_path):
    rec = record_episode("oracle", "lattice-defects", 1, env_kwargs=ENV)
    assert len(rec.frames) == len(rec.curve) == len(rec.positions) + 1
    assert rec.frames[0].dtype.name == "uint8" and rec.frames[0].shape == (64, 64, 3)
    out = tmp_path / "ep.gif"
    write_gif(out, rec, max_side=128)
    with Image.open(out) as gif:
        assert gif.n_frames == len(rec.frames)
        assert gif.size[1] > 128
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_replay_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown agent 'x'"):
        record_episode("x", "lattice-defects", 0)
    rec = record_episode("random", "lattice-defects", 0, env_kwargs=ENV)
    with pytest.raises(ValueError, match=r"\.gif"):
        write_gif(tmp_path / "ep.mp4", rec)
