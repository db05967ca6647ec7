"""MkDocs hook (mkdocs.yml `hooks:`): docstrings use reStructuredText roles (:mod:`x`, :func:`x`),
which Markdown leaves as text before the code span; drop the role, keep the code."""

import re

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|data|attr|obj|exc):(?=<code>)")


def on_page_content(html, page, config, files):
    return _ROLE.sub("", html)
