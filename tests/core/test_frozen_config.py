"""A build reads its config file once: the stages get its sections as overrides, so an edit (or
deletion) of the file while a build waits for annotation changes nothing in the stages still to run."""

from __future__ import annotations

from hggt.flows.stage import Stage, frozen_params
from hggt.core.presets import resolve_config


def test_stages_run_with_the_config_the_build_started_with(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("preset: demo\nseed: 5\npatches:\n  step: 200\nenhancers:\n  train:\n    iterations: 7\n")
    expected = resolve_config("paper", ["seed=6"], str(config))
    params = frozen_params(str(tmp_path / "ds"), None, ["seed=6"], str(config))
    config.write_text("preset: paper\nseed: 9\n")  # edited while the build waits
    first = Stage.open(**params).cfg
    config.unlink()
    assert Stage.open(**params).cfg == first == expected
    assert (expected.preset, expected.seed, expected.patches.step, expected.enhancers.train.iterations) == ("demo", 6, 200, 7)
    assert params["config_file"] is None
