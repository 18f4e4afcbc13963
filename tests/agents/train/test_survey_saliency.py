"""``stemscan train survey-saliency``: seeded, reproducible, checked options, files written beside each other."""

from __future__ import annotations

import pytest
import torch

from stemscan.agents.survey_saliency import load_survey_saliency
from stemscan.agents.train.survey_saliency import SaliencyTrainConfig, make_examples, train_survey_saliency
from stemscan.cli import main

TINY = {"scenes": ["phase-separated"], "n_scenes": 3, "epochs": 1, "channels": 4, "batch_size": 2, "image_size": 256,
        "overview_size": 32, "patch_size": 32}


def test_same_options_give_the_same_weights():
    first, facts = train_survey_saliency(SaliencyTrainConfig(**TINY))
    second, _ = train_survey_saliency(SaliencyTrainConfig(**TINY))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    other, _ = train_survey_saliency(SaliencyTrainConfig(**{**TINY, "seed": 1}))
    assert not torch.equal(first.state_dict()["body.0.weight"], other.state_dict()["body.0.weight"])
    assert facts["n_examples"] == 3 and facts["scenes"] == ["phase-separated"]


def test_examples_are_surveys_with_their_ground_truth():
    surveys, targets, families = make_examples(SaliencyTrainConfig(**TINY))
    assert surveys.shape == targets.shape == (3, 32, 32) and surveys.dtype.name == "uint8"
    assert families == ["phase-separated"] * 3 and (targets >= 0).all() and targets.sum() > 0


@pytest.mark.parametrize(("change", "message"), [
    ({"scenes": ["no-such-family"]}, "unknown scene families"),
    ({"image_size": 250}, "must be a multiple of overview_size"),
    ({"overview_size": 4}, "at least one survey pixel"),
    ({"survey_doses": (0.0,)}, "survey_doses must be fractions"),
    ({"n_scenes": 0}, "n_scenes"),
])
def test_bad_options_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        SaliencyTrainConfig(**{**TINY, **change}).check()


def test_command_writes_weights_and_config(tmp_path, capsys):
    out = tmp_path / "s.safetensors"
    code = main(["train", "survey-saliency", "--scenes", "nanoparticles", "--n-scenes", "2", "--epochs", "1",
                 "--channels", "4", "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    assert load_survey_saliency(out).config.channels == 4
    assert main(["train", "survey-saliency", "--out", str(tmp_path / "s.pt")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
