"""MkDocs hook (mkdocs.yml `hooks:`): docstrings use reStructuredText roles (:mod:`x`, :func:`x`),
which Markdown leaves as text before the code span; drop the role, keep the code."""

import re

from mkdocs.plugins import event_priority

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|data|attr|obj|exc):(?=<code>)")


def on_page_content(html, page, config, files):
    return _ROLE.sub("", html)


@event_priority(100)  # before mkdocstrings reads its handler's options
def on_config(config):
    """The API pages document hggt.core, ...: installed, the repository's folders are hggt's
    subpackages (pyproject.toml's package-dir), a mapping mkdocstrings cannot follow in a source
    tree; it reads them from a folder laid out as installed (links to the repository's folders)."""
    import os
    import tempfile
    from pathlib import Path

    repo = Path(config.config_file_path).parent
    layout = Path(tempfile.mkdtemp(prefix="hggt-docs-")) / "hggt"
    _made.append(layout.parent)
    layout.mkdir()
    for name in os.listdir(repo / "hggt"):
        if name.endswith(".py"):
            (layout / name).symlink_to(repo / "hggt" / name)
    for package, folder in (("core", "hggt_core"), ("tasks", "tasks"), ("flows", "flows"), ("cli", "hggt_cli"), ("app", "hggt_app")):
        (layout / package).symlink_to(repo / folder, target_is_directory=True)
    handler = config.plugins["mkdocstrings"].config.handlers.setdefault("python", {})
    handler["paths"] = [str(layout.parent)]
    return config


_made: list = []


def on_shutdown():
    import shutil

    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
