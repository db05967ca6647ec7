"""The table of record (hggt.core.paper_choices) against its documentation page, the tests, the config and the
authors' files it cites."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from hggt.core.paper_choices import CHOICES, DOCS_PAGE, END, START, markdown_table
from hggt.core.presets import config_from_options

REPO = Path(__file__).resolve().parents[2]


def test_the_docs_show_the_table_of_record():
    page = (REPO / DOCS_PAGE).read_text()
    assert START in page and END in page, f"{DOCS_PAGE} lacks the {START} ... {END} markers"
    block = page.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown_table(), f"{DOCS_PAGE} out of date: run `python -m hggt.core.paper_choices {DOCS_PAGE}`"


@pytest.mark.parametrize("choice", CHOICES, ids=lambda c: c.topic)
def test_each_choice_names_a_test_that_exists(choice):
    path, name = choice.proof.split("::")
    tree = ast.parse((REPO / path).read_text())
    assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, choice.proof


@pytest.mark.parametrize("choice", [c for c in CHOICES if c.override], ids=lambda c: c.topic)
def test_each_override_is_a_valid_setting_that_changes_the_config(choice):
    paper = config_from_options("paper")
    for override in choice.override.split(", "):
        assert config_from_options("paper", [override]) != paper, override


def test_each_cited_line_is_in_the_authors_files():
    root = os.environ.get("HGGT_REFERENCE")
    if not root or not Path(root, "PosNegGTSR").is_dir():
        pytest.skip("the authors' code is not available: set HGGT_REFERENCE to their HGGT folder")
    for choice in CHOICES:
        for source in choice.source.split("; "):
            file, _, line = source.partition(":")
            lines = Path(root, file).read_text(errors="replace").splitlines()
            assert not line or int(line.split("-")[0]) <= len(lines), source
