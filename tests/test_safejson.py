"""Deeply nested JSON/TOML (kwargs, suites, bundle manifests): a clear ValueError, never RecursionError."""

from __future__ import annotations

import json
import zipfile

import pytest

from stemscan.safejson import MAX_DEPTH, check_depth, loads, loads_toml

DEEP = 100_000


def _deep_dict(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_loads():
    assert loads('{"a": [1, {"b": "[[[["}]}', "x") == {"a": [1, {"b": "[[[["}]}
    assert loads(b'{"a": 1}', "x") == {"a": 1}
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested, "x") is not None
    for text in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * DEEP, '{"a":' * DEEP):
        with pytest.raises(ValueError, match=f"my kwargs is nested more than {MAX_DEPTH}"):
            loads(text, "my kwargs")
    with pytest.raises(ValueError, match="my kwargs is not valid JSON"):
        loads("{bad", "my kwargs")
    with pytest.raises(ValueError, match="not UTF-8"):
        loads(b"\xff\xfe", "my kwargs")


def test_check_depth_is_iterative():
    check_depth(_deep_dict(MAX_DEPTH - 1), "v")  # MAX_DEPTH dicts in all
    with pytest.raises(ValueError, match="v is nested more than"):
        check_depth(_deep_dict(DEEP), "v")
    with pytest.raises(ValueError, match="nested more than 3"):
        check_depth([[[[1]]]], "v", max_depth=3)


def test_toml():
    assert loads_toml("a = [[1]]", "s.toml") == {"a": [[1]]}
    with pytest.raises(ValueError, match="s.toml"):
        loads_toml("a = " + "[" * DEEP, "s.toml")
    with pytest.raises(ValueError, match="s.toml is nested more than"):
        loads_toml("a = " + "[" * 40 + "]" * 40, "s.toml")
    with pytest.raises(ValueError, match="s.toml: not valid TOML"):
        loads_toml("a = = 1", "s.toml")


def test_canonical_json_of_deep_kwargs():
    from stemscan.benchmarks.spec import canonical_json

    with pytest.raises(ValueError, match="nested"):
        canonical_json({"x": _deep_dict(DEEP)})


def test_suite_file_deep(tmp_path):
    from stemscan.benchmarks.suite import load_suite

    path = tmp_path / "deep.toml"
    path.write_text('agents = ["random"]\nscenes = ["lattice-defects"]\n[env]\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ValueError, match="deep.toml"):
        load_suite(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_suite(path)


def test_bundle_manifest_deep(tmp_path):
    from stemscan.benchmarks.bundle import open_bundle

    bundle = tmp_path / "b.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("manifest.json", '{"format": ' + "[" * DEEP + "]" * DEEP + "}")
        archive.writestr("results.sqlite", b"")
    with pytest.raises(ValueError, match="manifest.json is nested"):
        with open_bundle(bundle):
            pass
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "x", "rows": [1]}))
        archive.writestr("results.sqlite", b"")
    with pytest.raises(ValueError, match="unknown bundle format"):
        with open_bundle(bundle):
            pass


@pytest.mark.parametrize("option", ["--agent-kwargs", "--env-kwargs"])
def test_cli_deep_kwargs(option, tmp_path, capsys):
    from stemscan.cli import main

    out = tmp_path / "r.sqlite"
    assert main(["bench", "--agents", "random", "--scenes", "lattice-defects", "--out", str(out),
                 option, '{"random": ' + "[" * DEEP + "]" * DEEP + "}"]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: the value is nested more than {MAX_DEPTH} levels deep" in err
    assert "Traceback" not in err and not out.exists()
