"""The registry of networks is the one list of architectures: every entry builds, the config's
sections, validators, evaluation, export and the CLI read their names from it."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from hggt.core import evaluation, export, networks
from hggt.core.archs import build_generator, generator_from_payload, payload_options
from hggt.core.config import EnhancersConfig, TrainSRConfig
from hggt.core.presets import config_from_options, load_config
from hggt.core.networks import ENHANCER, GENERATOR, NETWORKS


@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_network_builds_at_its_tiny_size_from_its_size_model(name):
    entry = NETWORKS[name]
    model = build_generator(name, **entry.tiny).eval()
    assert type(model) is entry.load()
    params = inspect.signature(type(model).__init__).parameters
    assert set(entry.size.model_fields) | {"scale"} <= set(params)  # every size option, and the scale, reach the constructor
    for scale in entry.scales:  # one class for each of its scales
        with torch.no_grad():
            out = build_generator(name, **entry.tiny, scale=scale).eval()(torch.rand(1, 3, 16, 16))
        assert out.shape[-1] == 16 * scale
    unsupported = max(entry.scales) + 1
    with pytest.raises(ValueError, match=f"{name} is a x.* network, not x{unsupported}"):
        build_generator(name, **entry.tiny, scale=unsupported)
    for upsampler in entry.upsamplers:  # each upsampler the size model accepts is one the network has
        build_generator(name, **entry.tiny, upsampler=upsampler)


SECTIONS = {ENHANCER: "enhancers", GENERATOR: "train_sr"}  # the config section of each role's networks


def test_config_sections_hold_one_size_per_registry_network():
    cfg = load_config("paper")
    for entry in NETWORKS.values():
        for role in entry.roles:
            assert getattr(getattr(cfg, SECTIONS[role]), entry.name) == entry.size()  # the paper defaults, from the size model alone
    assert {n for n in NETWORKS if n in EnhancersConfig.model_fields} == set(networks.names(ENHANCER))
    assert {n for n in NETWORKS if n in TrainSRConfig.model_fields} == set(networks.names(GENERATOR))
    for entry in NETWORKS.values():  # each option is settable with --set, tuples as JSON lists
        for section in (SECTIONS[role] for role in entry.roles):
            tiny = config_from_options("paper", [f"{section}.{entry.name}.{k}={json.dumps(v)}" for k, v in entry.tiny.items()])
            assert getattr(getattr(tiny, section), entry.name) == entry.size(**entry.tiny)


def test_one_entry_serves_each_of_its_roles(monkeypatch):
    """A network used both ways (an x1 enhancer and an x4 generator) is one entry with two roles,
    not a second entry: it is named, sized and configurable under each."""
    import dataclasses

    rrdb = NETWORKS["rrdb"]
    both = dataclasses.replace(rrdb, roles=(ENHANCER, GENERATOR))
    monkeypatch.setattr(networks, "_ENTRIES", tuple(both if n is rrdb else n for n in networks._ENTRIES))
    monkeypatch.setattr(networks, "NETWORKS", {**NETWORKS, "rrdb": both})
    assert "rrdb" in networks.names(ENHANCER) and "rrdb" in networks.names(GENERATOR)
    assert networks.network("rrdb", ENHANCER) is both and rrdb.module in networks.modules(ENHANCER)

    @networks.with_sizes(ENHANCER)
    class Section(EnhancersConfig.__base__):
        pass

    assert Section().rrdb == rrdb.size() and networks.demo_sizes(ENHANCER)["rrdb"] == dict(rrdb.demo)


UNKNOWN = "-".join(NETWORKS) + "-x"  # the name of no network


def _not_of(role):
    """A network of the registry that is not of ``role``."""
    return next(n for n in NETWORKS if n not in networks.names(role))


def test_config_validation_names_the_registrys_networks():
    generator, enhancer, unknown = _not_of(ENHANCER), _not_of(GENERATOR), UNKNOWN
    with pytest.raises(ValueError, match=re.escape(f"arch must be {networks.choices(ENHANCER)}")):
        config_from_options("paper", [f'enhancers.versions=[{{"version": "01", "arch": "{generator}", "setting": "1"}}, '
                                      f'{{"version": "02", "arch": "{enhancer}", "setting": "2"}}]'])
    with pytest.raises(ValueError, match=re.escape(f"unknown architecture {unknown!r}; choose {networks.choices(GENERATOR)}")):
        config_from_options("paper", [f"train_sr.arch_train.{unknown}=null"])
    with pytest.raises(ValueError, match=re.escape(f"unknown generator architecture {enhancer!r}; choose {networks.choices(GENERATOR)}")):
        networks.network(enhancer, GENERATOR)


def test_evaluation_export_and_the_cli_list_the_registrys_networks():
    assert set(evaluation.MODELS) == set(networks.names(GENERATOR))
    assert export.SPANDREL_NAMES == {n.name: n.spandrel for n in NETWORKS.values() if n.spandrel}
    for entry in NETWORKS.values():  # an export's variant is its upsampler; a network without one has none
        assert export.variant(entry.name, {}) == ""
        for upsampler in entry.upsamplers:
            assert export.variant(entry.name, {"upsampler": upsampler}) == upsampler

    from hggt.cli.main import app

    runner = CliRunner()
    refused = runner.invoke(app, ["train-sr", "--out", "/nonexistent", "--arch", _not_of(GENERATOR)], env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and f"choose {networks.choices(GENERATOR)}" in refused.output


def test_the_demo_preset_takes_its_network_sizes_from_the_registry():
    cfg = load_config("demo")
    for entry in NETWORKS.values():
        assert entry.demo, f"{entry.name} has no demo size: the demo would train it at the paper's"
        for role in entry.roles:
            assert getattr(getattr(cfg, SECTIONS[role]), entry.name) == entry.size(**entry.demo)


def test_prefect_deployments_name_the_registrys_generators():
    # prefect.yaml is static YAML: what it says about the networks is checked against the registry here.
    deployments = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())["deployments"]
    train_sr = next(d for d in deployments if d["entrypoint"] == "hggt/flows/train_sr.py:train_sr_flow")
    assert f"({networks.choices(GENERATOR)};" in train_sr["description"]
    assert train_sr["parameters"]["arch"] in networks.names(GENERATOR)


def test_legacy_options_come_from_the_registry():
    for entry in NETWORKS.values():
        assert payload_options({"arch": entry.name, "options": {}}) == dict(entry.legacy_options)
    for entry in NETWORKS.values():  # a file written before `upsampler` existed: the one it was trained with
        if "upsampler" in entry.legacy_options:
            old = dict(entry.tiny)
            state = build_generator(entry.name, **old, **entry.legacy_options).state_dict()
            model = generator_from_payload({"arch": entry.name, "options": old, "state_dict": state})
            assert model.upsampler == entry.legacy_options["upsampler"]


def test_the_registry_loads_no_torch():
    code = "import sys, hggt.core.networks; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
