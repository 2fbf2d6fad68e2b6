"""The README documents what exists, and what it shows works.

Like sqlite-utils' ``test_docs.py``: every command and public name must appear in
the README, and the README's Python examples run as written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import syncengine
from syncengine.cli import main

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_all_is_sorted() -> None:
    assert syncengine.__all__ == sorted(syncengine.__all__)


def test_every_name_in_all_can_be_imported() -> None:
    missing = [name for name in syncengine.__all__ if not hasattr(syncengine, name)]
    assert missing == []


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_is_documented(name: str) -> None:
    assert f"syncengine {name}" in README


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_is_documented(name: str) -> None:
    command = main.commands[name]
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt not in ("--help",):
                assert opt in README, f"{name} {opt} is not in the README"


@pytest.mark.parametrize(
    "name",
    [n for n in syncengine.__all__ if n[0].isupper() or n in ("new_id", "uuid_pk", "reconcile", "open_shared_log")],
)
def test_every_public_name_is_documented(name: str) -> None:
    assert re.search(rf"\b{name}\b", README), f"{name} is exported but not in the README"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_examples_run(index: int, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    if index > 0:  # later examples continue from the first one's files
        exec(compile(_python_blocks()[0], "README-0", "exec"), {})
    exec(compile(_python_blocks()[index], f"README-{index}", "exec"), {})
    assert os.listdir(tmp_path)
