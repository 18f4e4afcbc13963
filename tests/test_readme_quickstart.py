"""The README's quickstart runs as printed (the front door must not rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_block_runs_and_prints_its_summary(capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quickstart"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md quickstart", "exec"), {"__name__": "quickstart"})  # noqa: S102 - the project's own README
    assert re.fullmatch(r"\d+ / \d+ features with \d+\.\d% of a frame's dose\n", capsys.readouterr().out)
