"""The table of stages (hggt/core/stages.py) is the one list: the build flow, its docstring, the
documentation's stage table, the Makefile and prefect.yaml agree with it, and every manifest a stage needs is made by one."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hggt.flows import build_dataset
from hggt.flows.stage import flow_of
from hggt.core import stages
from hggt.core.schemas import MANIFESTS

REPO = Path(__file__).resolve().parents[2]


def test_each_row_names_its_flow_and_each_input_has_a_maker():
    for entry in stages.STAGES:
        assert flow_of(entry).name == entry.name
        assert set(entry.reads) | set(entry.writes) <= set(MANIFESTS), entry.name
        for manifest in entry.reads:
            maker = stages.maker_of(manifest)
            assert maker is not None and stages.STAGES.index(maker) < stages.STAGES.index(entry), (entry.name, manifest)


def test_the_build_flows_docstring_lists_the_build_stages_in_order():
    listed = re.findall(r"^\d+\.\s+(\S+)", build_dataset.__doc__, flags=re.M)
    assert tuple(listed) == stages.BUILD_STAGES


def test_the_docs_table_is_the_generated_one():
    page = (REPO / stages.DOCS_PAGE).read_text()
    assert stages.BEGIN + stages.docs_table() + stages.END in page, f"run python -m hggt.core.stages {stages.DOCS_PAGE}"


def test_the_makefile_has_a_target_for_each_stage():
    makefile = (REPO / "Makefile").read_text()
    listed = set(re.search(r"^STAGES := (.*?)\n(?!\t)", makefile, flags=re.M | re.S).group(1).replace("\\\n", " ").split())
    defined = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    for entry in stages.STAGES:
        assert set(entry.targets) <= listed & defined, entry.name


def test_prefect_yaml_deploys_each_stage():
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    entrypoints = {d["entrypoint"] for d in deployments}
    for entry in stages.STAGES:
        module, _, function = entry.flow.partition(":")
        assert f"{module.replace('.', '/')}.py:{function}" in entrypoints, entry.name


def test_missing_inputs_name_the_stage_and_command_that_make_them():
    have = {"manifests/labels.parquet"}
    message = stages.missing_inputs("maps", have.__contains__)
    assert message == ("maps needs manifests/set_images.parquet (stage select: `hggt select / hggt annotate ingest`): run it first, "
                       "or `hggt build --until maps`")
    assert stages.missing_inputs("maps", lambda rel: True) is None
