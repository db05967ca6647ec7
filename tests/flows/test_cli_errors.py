"""A known error raised inside a flow run is one line from the CLI, with exit code 1; Prefect's
tracebacks of it stay in the dashboard (HGGT_DEBUG=1 shows them)."""

from __future__ import annotations

import os

import pytest

from tests.flows.conftest import write_good_photos

# The CLI's real logging level, where Prefect's own ERROR lines and tracebacks would show.
ENV = {**os.environ, "PREFECT_LOGGING_LEVEL": "INFO"}


def _error_lines(proc, message: str) -> list[str]:
    """The lines that report the failure (progress and Prefect's INFO lines may come and go)."""
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    return [line for line in text.splitlines() if "error" in line.lower() or message in line]


def test_a_missing_manifest_is_one_line_naming_the_stage_that_makes_it(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()  # a dataset folder without images.parquet
    proc = run_cli("patches", "--out", str(tmp_path / "empty"), "--preset", "demo", check=False, env=ENV)
    assert proc.returncode == 1
    lines = _error_lines(proc, "images.parquet")
    assert lines == ["error: patches needs manifests/images.parquet (stage ingest: `hggt ingest`): run it first, "
                     "or `hggt build --until patches`"], lines
    assert "Beginning flow run" not in proc.stdout + proc.stderr  # refused before Prefect starts


@pytest.mark.parametrize("contents", ["nothing", "only rejected files"])
def test_no_usable_image_stops_after_ingest(tmp_path, run_cli, contents):
    photos = tmp_path / "photos"
    photos.mkdir()
    if contents != "nothing":
        (photos / "not-an-image.jpeg").write_text("name,value\n")
        (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    proc = run_cli("build", "--input", str(photos), "--out", str(tmp_path / "ds"), "--preset", "demo", check=False, env=ENV)
    assert proc.returncode == 1
    rejected = 0 if contents == "nothing" else 2
    lines = _error_lines(proc, "usable images")
    assert lines == [f"error: 0 usable images in {photos} ({rejected} rejected: see manifests/rejected.parquet)"], lines
    assert (tmp_path / "ds" / "manifests" / "images.parquet").exists()
    assert not (tmp_path / "ds" / "manifests" / "patches.parquet").exists()


def test_a_stage_typo_is_caught_before_prefect(tmp_path, run_cli):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=1)
    for until, expected in (("pathces", "unknown stage 'pathces'; did you mean 'patches'?"),
                            ("nonsense", "unknown stage 'nonsense'; choose one of ingest, patches")):
        proc = run_cli("build", "--input", str(photos), "--out", str(tmp_path / "ds"), "--until", until, check=False, env=ENV)
        assert proc.returncode == 1
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "ds").exists()
