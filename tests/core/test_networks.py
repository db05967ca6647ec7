"""The registry of networks is the one list of architectures: every entry builds, the config's
sections, validators, evaluation, export and the CLI read their names from it."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from hggt_core import evaluation, export, networks
from hggt_core.archs import build_generator, generator_from_payload, payload_options
from hggt_core.config import EnhancersConfig, TrainSRConfig
from hggt_core.presets import config_from_options, load_config
from hggt_core.networks import ENHANCER, GENERATOR, NETWORKS


@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_network_builds_at_its_tiny_size_from_its_size_model(name):
    entry = NETWORKS[name]
    model = build_generator(name, **entry.tiny).eval()
    assert type(model) is entry.load()
    params = inspect.signature(type(model).__init__).parameters
    assert set(entry.size.model_fields) <= set(params)  # every size option reaches the constructor
    with torch.no_grad():
        out = model(torch.rand(1, 3, 16, 16))
    assert out.shape[-1] == 16 * entry.scales[0]
    for upsampler in entry.upsamplers:  # each upsampler the size model accepts is one the network has
        build_generator(name, **entry.tiny, upsampler=upsampler)


def test_config_sections_hold_one_size_per_registry_network():
    cfg = load_config("paper")
    for entry in NETWORKS.values():
        section = cfg.enhancers if entry.role == ENHANCER else cfg.train_sr
        assert getattr(section, entry.name) == entry.size()  # the paper defaults, from the size model alone
    assert {n for n in NETWORKS if n in EnhancersConfig.model_fields} == set(networks.names(ENHANCER))
    assert {n for n in NETWORKS if n in TrainSRConfig.model_fields} == set(networks.names(GENERATOR))
    tiny = config_from_options("paper", ["enhancers.rcan.channels=8", "train_sr.swinir.depths=[2]"])
    assert tiny.enhancers.rcan.channels == 8 and tiny.train_sr.swinir.depths == (2,)


def test_config_validation_names_the_registrys_networks():
    with pytest.raises(ValueError, match="arch must be rcan or elan"):
        config_from_options("paper", ['enhancers.versions=[{"version": "01", "arch": "rrdb", "setting": "1"}, '
                                      '{"version": "02", "arch": "rcan", "setting": "2"}]'])
    with pytest.raises(ValueError, match="unknown architecture 'esrgan'; choose rrdb or swinir"):
        config_from_options("paper", ["train_sr.arch_train.esrgan=null"])
    with pytest.raises(ValueError, match="unknown generator architecture 'rcan'; choose rrdb or swinir"):
        networks.network("rcan", GENERATOR)


def test_evaluation_export_and_the_cli_list_the_registrys_networks():
    assert set(evaluation.MODELS) == set(networks.names(GENERATOR))
    assert export.SPANDREL_NAMES == {n.name: n.spandrel for n in NETWORKS.values() if n.spandrel}
    assert export.variant("rcan", {}) == "" and export.variant("rrdb", {"upsampler": "nearest"}) == "nearest"

    from hggt_cli.main import app

    runner = CliRunner()
    refused = runner.invoke(app, ["train-sr", "--out", "/nonexistent", "--arch", "rcan"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "choose rrdb or swinir" in refused.output


def test_legacy_options_come_from_the_registry():
    for entry in NETWORKS.values():
        assert payload_options({"arch": entry.name, "options": {}}) == dict(entry.legacy_options)
    old = dict(NETWORKS["rrdb"].tiny)  # a file written before `upsampler` existed: ESRGAN's nearest
    model = generator_from_payload({"arch": "rrdb", "options": old,
                                    "state_dict": build_generator("rrdb", **old, upsampler="nearest").state_dict()})
    assert model.upsampler == "nearest"


def test_the_registry_loads_no_torch():
    code = "import sys, hggt_core.networks; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
