"""Schemathesis over the served OpenAPI document: every check, against a real server process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .servers import new_token


def _schemathesis() -> list[str]:
    script = Path(sys.executable).parent / "schemathesis"
    if script.exists():
        return [str(script)]
    found = shutil.which("schemathesis")
    assert found, "schemathesis is not installed (it is in the test extra)"
    return [found]


def test_schemathesis_finds_nothing(start_server, new_db, tmp_path) -> None:
    db = new_db("sqlite")
    server = start_server(db, "--max-body-bytes", str(256 * 1024))
    token = new_token(db, "fuzzer")
    done = subprocess.run(
        [
            *_schemathesis(),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--seed",
            "20240601",
            "--no-color",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # its example database stays out of the work tree
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    assert "passed" in done.stdout
