"""`stemscan submit` / `verify` round trip; a tampered bundle fails; leaderboards merge stores and bundles."""

from __future__ import annotations

import json
import sqlite3
import zipfile

import pytest

from stemscan.benchmarks import expand_grid, run_grid
from stemscan.benchmarks.bundle import BUNDLE_FORMAT, open_bundle
from stemscan.cli import main

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    out = folder / "r.sqlite"
    assert run_grid(expand_grid(["random", "raster"], ["phase-separated"], [0, 1], [0.3], ENV), out, workers=1, progress=False).ok
    other = folder / "other.sqlite"
    assert run_grid(expand_grid(["oracle"], ["phase-separated"], [0, 1], [0.3], ENV), other, workers=1, progress=False).ok
    return out, other


def test_submit_verify_round_trip(results, tmp_path, capsys):
    out, _ = results
    bundle = tmp_path / "b.zip"
    assert main(["submit", str(out), "-o", str(bundle), "--suite", "smoke"]) == 0
    assert "wrote" in capsys.readouterr().out
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    assert manifest["format"] == BUNDLE_FORMAT and len(manifest["rows"]) == 4 and manifest["suite"]["name"] == "smoke"
    assert {a["name"]: a["kind"] for a in manifest["agents"]} == {"random": "zoo", "raster": "zoo"}
    assert all(a["source_sha256"] for a in manifest["agents"]) and manifest["fingerprints"]
    assert main(["verify", str(bundle), "--all", "--no-progress"]) == 0
    assert "4 of 4 rows reproduce bit for bit" in capsys.readouterr().out


def test_a_tampered_bundle_fails(results, tmp_path, capsys):
    out, _ = results
    bundle = tmp_path / "b.zip"
    assert main(["submit", str(out), "-o", str(bundle)]) == 0
    altered = tmp_path / "altered.sqlite"
    with zipfile.ZipFile(bundle) as archive:
        altered.write_bytes(archive.read("results.sqlite"))
        manifest = archive.read("manifest.json")
    conn = sqlite3.connect(altered)
    conn.execute("UPDATE episodes SET features_found = features_found + 1 WHERE seed = 1 AND agent = 'raster'")
    conn.commit()
    conn.close()
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.write(altered, "results.sqlite")
        archive.writestr("manifest.json", manifest)
    capsys.readouterr()
    assert main(["verify", str(tampered), "--sample", "1", "--no-progress"]) == 1
    out_text = capsys.readouterr().out
    assert "INTEGRITY: row" in out_text and "(raster/phase-separated/s1) was altered" in out_text
    with open_bundle(tampered) as (_, _, problems, _):
        assert any("was altered" in p for p in problems)


def test_not_a_bundle(tmp_path, capsys):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"no zip")
    assert main(["verify", str(junk)]) == 2
    assert "is not a results bundle" in capsys.readouterr().err
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert main(["verify", str(empty)]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err


def test_leaderboard_merges_stores_and_bundles(results, tmp_path, capsys):
    out, other = results
    bundle = tmp_path / "oracle.zip"
    assert main(["submit", str(other), "-o", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out), str(bundle), str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 1 | oracle |" in text and "| random |" in text and "| raster |" in text
    assert "r.sqlite, oracle.zip, r.sqlite" in text
