"""Weight files: recorded SHA-256 verified, tensor dtypes exact, architecture sizes bounded (issue 17)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from safetensors.torch import load_file, save_file

from stemscan.agents.dcnn import WEIGHTS_PATH, AtomFinder, _read_metadata
from stemscan.agents.nets.rvae import RVAEConfig
from stemscan.agents.ppo import DEFAULT_POLICY_PATH, load_policy
from stemscan.agents.rvae import load_rvae, new_model, pretrained_path, save_rvae


def _flip_a_mantissa_bit(path: Path) -> None:
    """Flip the lowest bit of the last float32 in the file (tensor data end the file): the value stays finite."""
    raw = bytearray(path.read_bytes())
    raw[-4] ^= 0x01
    path.write_bytes(bytes(raw))


def _copy_pair(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    shutil.copy(source.with_suffix(".json"), target.with_suffix(".json"))
    return target


# ------------------------------------------------------------------ SHA-256
def test_dcnn_bit_flip_is_caught_by_the_recorded_hash(tmp_path):
    path = _copy_pair(WEIGHTS_PATH, tmp_path / "dcnn.safetensors")
    AtomFinder.load(path, device="cpu")
    _flip_a_mantissa_bit(path)
    recorded = json.loads(path.with_suffix(".json").read_text())["sha256"]
    with pytest.raises(ValueError, match=rf"dcnn\.safetensors: SHA-256 [0-9a-f]{{64}} does not match {recorded} "
                                         r"recorded in .*dcnn\.json"):
        AtomFinder.load(path, device="cpu")
    path.with_suffix(".json").unlink()  # without a record there is nothing to compare against
    AtomFinder.load(path, device="cpu")


@pytest.mark.parametrize("centring", ["peak", "lattice"])
def test_shipped_rvae_and_ppo_record_their_hashes(tmp_path, centring):
    path = _copy_pair(pretrained_path(centring), tmp_path / "rvae.safetensors")
    load_rvae(path)
    _flip_a_mantissa_bit(path)
    with pytest.raises(ValueError, match=r"rvae\.safetensors: SHA-256 .* recorded in .*rvae\.json"):
        load_rvae(path)


def test_ppo_bit_flip_is_caught(tmp_path):
    path = _copy_pair(DEFAULT_POLICY_PATH, tmp_path / "policy.safetensors")
    load_policy(path)
    _flip_a_mantissa_bit(path)
    with pytest.raises(ValueError, match=r"policy\.safetensors: SHA-256 .* does not match"):
        load_policy(path)


def test_saved_rvae_records_and_checks_its_hash(tmp_path):
    model = new_model(RVAEConfig(window=8, latent_dim=1, hidden=4, decoder_hidden=4), seed=0)
    path = save_rvae(model, tmp_path / "m.safetensors")
    assert len(json.loads(path.with_suffix(".json").read_text())["sha256"]) == 64
    _flip_a_mantissa_bit(path)
    with pytest.raises(ValueError, match="does not match"):
        load_rvae(path)
    document = json.loads(path.with_suffix(".json").read_text())
    document["sha256"] = "not-a-hash"
    path.with_suffix(".json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="64 hex digits"):
        load_rvae(path)


# ------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [torch.float16, torch.int32, torch.float64])
def test_dcnn_tensors_of_another_dtype_are_refused_not_cast(tmp_path, dtype):
    tensors = load_file(WEIGHTS_PATH)
    name = next(k for k in tensors if k.endswith("head.weight"))
    tensors[name] = tensors[name].to(dtype)
    save_file(tensors, tmp_path / "cast.safetensors", metadata=_read_metadata(WEIGHTS_PATH.read_bytes()))
    with pytest.raises(ValueError, match=rf"{name} is {str(dtype)[6:]}, the architecture needs float32"):
        AtomFinder.load(tmp_path / "cast.safetensors", device="cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.int32])
def test_rvae_and_ppo_tensors_of_another_dtype_are_refused(tmp_path, dtype):
    model = new_model(RVAEConfig(window=8, latent_dim=1, hidden=4, decoder_hidden=4), seed=0)
    path = save_rvae(model, tmp_path / "m.safetensors")
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors["decoder.0.weight"] = tensors["decoder.0.weight"].to(dtype)
    save_file(tensors, str(path))
    with pytest.raises(ValueError, match=rf"decoder\.0\.weight.*{str(dtype)}.*never cast"):
        load_rvae(path)
    policy = tmp_path / "policy.safetensors"
    tensors = load_file(DEFAULT_POLICY_PATH)
    key = sorted(tensors)[0]
    tensors[key] = tensors[key].to(dtype)
    save_file(tensors, policy)
    spec = json.loads(DEFAULT_POLICY_PATH.with_suffix(".json").read_text())
    spec.pop("sha256")
    policy.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=rf"{key} is {str(dtype)[6:]}, the architecture needs float32"):
        load_policy(policy)


# ------------------------------------------------------- architecture bounds
def _dcnn_with_record(tmp_path, **changes):
    metadata = _read_metadata(WEIGHTS_PATH.read_bytes())
    record = json.loads(metadata["stemscan_dcnn"])
    for key, value in changes.items():
        record[key] = value
    path = tmp_path / "big.safetensors"
    save_file(load_file(WEIGHTS_PATH), path, metadata={"stemscan_dcnn": json.dumps(record)})
    return path


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"members": 10**6}, r"members must be an integer in \[1, 16\]"),
        ({"class_names": [f"c{i}" for i in range(10**5)]}, r"class_names must be an integer in \[2, 64\]"),
        ({"architecture": {"base_channels": 10**6, "levels": 3}}, r"base_channels must be an integer in \[1, 256\]"),
        ({"architecture": {"base_channels": 16, "levels": 40}}, r"levels must be an integer in \[1, 4\]"),
        ({"architecture": {"base_channels": 16, "depth": 9}}, "unknown keys"),
    ],
)
def test_dcnn_metadata_sizes_are_bounded_before_building(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        AtomFinder.load(_dcnn_with_record(tmp_path, **changes), device="cpu")


@pytest.mark.parametrize("key, value", [("window", 10**6), ("hidden", 10**9), ("decoder_hidden", 5000),
                                        ("latent_dim", 65)])
def test_rvae_config_sizes_are_bounded(tmp_path, key, value):
    model = new_model(RVAEConfig(window=8, latent_dim=1, hidden=4, decoder_hidden=4), seed=0)
    path = save_rvae(model, tmp_path / "m.safetensors")
    document = json.loads(path.with_suffix(".json").read_text())
    document["config"][key] = value
    path.with_suffix(".json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=rf"RVAEConfig\.{key} must be <="):
        load_rvae(path)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda s: s["observation_space"]["spaces"]["patch"].update(shape=[100000, 100000]), "elements"),
        (lambda s: s["observation_space"]["spaces"]["patch"].update(shape=[32, -1]), "Box dimension"),
        (lambda s: s["action_space"].update(n=10**12), r"n must be an integer in \[1, 65536\]"),
        (lambda s: s["policy_kwargs"].update(net_arch=[10**7]), "net_arch layer width"),
        (lambda s: s["policy_kwargs"].update(net_arch=[8] * 50), "at most 8"),
        (lambda s: s["policy_kwargs"]["features_extractor_kwargs"].update(channels=10**6), "channels"),
        (lambda s: s["policy_kwargs"]["features_extractor_kwargs"].update(cell_grid=[10**5, 16]), "cell_grid"),
        (lambda s: s["observation_space"].update(spaces={"a": {"type": "Dict", "spaces": {}}}), "unsupported"),
    ],
)
def test_ppo_config_sizes_are_bounded_before_building(tmp_path, edit, match):
    path = _copy_pair(DEFAULT_POLICY_PATH, tmp_path / "policy.safetensors")
    spec = json.loads(path.with_suffix(".json").read_text())
    edit(spec)
    path.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=match):
        load_policy(path)


def test_deeply_nested_config_is_a_clear_error(tmp_path):
    path = _copy_pair(DEFAULT_POLICY_PATH, tmp_path / "policy.safetensors")
    path.with_suffix(".json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="not valid JSON"):
        load_policy(path)


def test_oversized_weight_file_refused_before_reading(tmp_path, monkeypatch):
    import stemscan.agents.weights_file as weights_file

    monkeypatch.setattr(weights_file, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(ValueError, match="over the weights limit"):
        AtomFinder.load(WEIGHTS_PATH, device="cpu")


# ------------------------------------------------------------------ SB3 zips
ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_sb3_zip_bomb_and_huge_net_arch_are_refused(tmp_path):
    import stemscan.agents

    env = gym.make("STEMScan-v0", action_mode="grid", **ENV)
    bomb = _zip(tmp_path / "bomb.zip", {"data": b" " * (17 * 2**20)})
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ValueError, match=r"bomb\.zip.*'data' member declares 17,825,792 bytes"):
        stemscan.agents.make(f"sb3:ppo:{bomb}", env)
    data = {"n_epochs": 10, "policy_kwargs": {"net_arch": [10**6, 10**6]}}
    wide = _zip(tmp_path / "wide.zip", {"data": json.dumps(data).encode()})
    with pytest.raises(ValueError, match=r"wide\.zip: policy_kwargs\.net_arch .* outside the limits"):
        stemscan.agents.make(f"sb3:{wide}", env)
    many = _zip(tmp_path / "many.zip", {f"m{i}": b"" for i in range(100)} | {"data": b"{}"})
    with pytest.raises(ValueError, match="101 members"):
        stemscan.agents.make(f"sb3:{many}", env)
    deep = _zip(tmp_path / "deep.zip", {"data": b"[" * 100000 + b"]" * 100000})
    with pytest.raises(ValueError, match="not a stable-baselines3 model"):
        stemscan.agents.make(f"sb3:{deep}", env)


# ------------------------------------------------------------------- fuzzing
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_DCNN_BYTES = WEIGHTS_PATH.read_bytes()


@settings(max_examples=40, deadline=5000, derandomize=True)
@given(flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, len(_DCNN_BYTES))))
def test_mutated_dcnn_headers_give_value_errors(tmp_path_factory, flips, cut):
    """Mutations of the safetensors header (its first ~4 KB) and truncations: a ValueError naming the file."""
    raw = bytearray(_DCNN_BYTES)
    for position, mask in flips:
        raw[position] ^= mask
    if cut is not None:
        raw = raw[:cut]
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.safetensors"
    path.write_bytes(bytes(raw))
    try:
        AtomFinder.load(path, device="cpu")
    except ValueError as error:
        assert "fuzzed.safetensors" in str(error)
