"""The `hggt` command line: help texts, config inspection and meaningful exit codes."""

import json

import pytest
from typer.testing import CliRunner

from hggt.cli.main import app

runner = CliRunner()


def test_top_level_help_lists_every_stage():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for command in ("ingest", "patches", "build", "sample-photos", "show-config"):
        assert command in result.output


@pytest.mark.parametrize("command", ["ingest", "patches", "build"])
def test_stage_help_explains_the_options(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--out", "--preset", "--set", "--config", "--workers"):
        assert option in result.output


def test_show_config_prints_the_resolved_config_and_hash(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("patches:\n  step: 200\n")
    result = runner.invoke(app, ["show-config", "--preset", "demo", "--config", str(extra), "--set", "seed=5"])
    assert result.exit_code == 0, result.output
    body, hash_line = result.output.rsplit("config hash:", 1)
    cfg = json.loads(body)
    assert cfg["preset"] == "demo" and cfg["seed"] == 5
    assert cfg["patches"]["step"] == 200 and cfg["patches"]["crop_size"] == 128
    assert len(hash_line.strip()) == 16


def test_invalid_override_exits_with_usage_error():
    result = runner.invoke(app, ["show-config", "--set", "patches.crop_size=abc"])
    assert result.exit_code == 2 and "crop_size" in result.output


def test_sample_photos_copies_the_bundled_photos(tmp_path):
    result = runner.invoke(app, ["sample-photos", str(tmp_path / "p")])
    assert result.exit_code == 0
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert len(names) == 9 and "astronaut.png" in names and "retina.jpg" in names


def test_version_prints_the_installed_distributions_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"hggt {version('hggt')}\n"


def test_version_falls_back_to_pyproject_when_not_installed(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("hggt 0.") and "not installed" in result.output


def _command_paths(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():  # a group (typer vendors its own click)
        yield from _command_paths(sub, (*path, name))


def test_no_help_cites_a_file_users_do_not_have():
    import re

    import typer

    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("annotate", "export") in paths and ("server", "start") in paths  # sub-apps are walked
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert not re.search(r"\bSPEC\b|SPEC\.md", result.output), (path, result.output)


def test_export_prints_every_clients_verdict(monkeypatch, tmp_path):
    # `hggt export` prints what the export measured for each client of the written file, the
    # failures and the wrong outputs included (here the demo's pixel-shuffle RRDB, which plain
    # Spandrel detects as ESRGAN and fails to load).
    import hggt.cli.results as results
    from hggt.core.archs import build_generator
    from hggt.core.export import CLIENTS, client_verdicts, to_safetensors
    from hggt.core.networks import NETWORKS

    model = build_generator("rrdb", **{**NETWORKS["rrdb"].demo, "upsampler": "pixelshuffle"}).eval()
    clients = client_verdicts(model, to_safetensors(model, {}), "safetensors")
    done = {"file": str(tmp_path / "exports" / "run-pixelshuffle.safetensors"), "bytes": 4096, "arch": "rrdb",
            "format": "safetensors", "clients": clients}
    monkeypatch.setattr(results, "run_flow", lambda *args, **kwargs: done)
    result = runner.invoke(app, ["export", "--out", str(tmp_path), "--run", "latest"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    for verdict, label in zip(("does not load", "loads correctly", "does not load"), CLIENTS.values()):
        assert f"{label}: {verdict} - " in printed
    assert "detected as ESRGAN" in printed and "max abs diff 0 " in printed



@pytest.fixture
def short_torch_home():
    """A TORCH_HOME with a short path, as most are: its file paths fit an 80-column line whole."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="th", dir="/tmp") as folder:
        yield Path(folder)


def test_weights_status_fits_80_columns_and_says_what_to_do_per_missing_file(short_torch_home):
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = short_torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "vgg19-dcbb9e9d.pth").write_bytes(b"")  # present: no step for it
    env = {**os.environ, "COLUMNS": "80", "TORCH_HOME": str(short_torch_home)}
    proc = subprocess.run([sys.executable, "-m", "hggt.cli.main", "weights", "status"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, proc.stdout
    assert "\u2026" not in proc.stdout  # nothing cut short with an ellipsis
    assert f"folder: {folder} (TORCH_HOME moves it)" in lines
    steps = proc.stdout[proc.stdout.index("To do (2 missing"):]
    for name, file in (("alexnet", "alexnet-owt-7be5be79.pth"), ("vgg16", "vgg16-397923af.pth")):
        assert f"hggt weights fetch {name}" in steps and f"    and put it at {folder / file}" in lines
    assert "fetch vgg19" not in proc.stdout


def test_every_flow_a_command_names_is_a_prefect_flow():
    """Commands name their flow as "module:function" (the module imports Prefect, which must be
    configured first: the shared server's address), so no import statement shows it: this does."""
    import ast
    import importlib
    from pathlib import Path

    from prefect import Flow

    named = []
    for path in Path(__file__).resolve().parents[1].joinpath("hggt", "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_flow" and node.args:
                named.append(node.args[0].value)
    assert len(named) >= 20
    for target in named:
        module, _, name = target.partition(":")
        assert isinstance(getattr(importlib.import_module(module), name), Flow), target
