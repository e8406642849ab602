"""A griffe extension: renders the Sphinx roles of gradtx's docstrings as MkDocs Markdown.

Docstrings stay readable in ``help()`` and in editors (``:math:`x```, ``.. math::`` blocks,
``:func:`name```); for the site they become ``$x$``, ``$$...$$`` (rendered by MathJax through
pymdownx.arithmatex) and cross-references resolved by mkdocs-autorefs.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^([ \t]*)\.\. math::[ \t]*\n((?:\1[ \t]+.*\n|[ \t]*\n)+)", re.M)
_MATH_LINE = re.compile(r"^([ \t]*)\.\. math::[ \t]+(\S.*)$", re.M)


def _reference(match: re.Match[str]) -> str:
    target = match.group(1).strip()
    if target.endswith("()"):
        target = target[:-2]
    short = target.rsplit(".", 1)[-1]
    if not target.startswith("gradtx"):
        target = f"gradtx.{target}"
    return f"[`{short}`][{target}]"


def _math_block(match: re.Match[str]) -> str:
    indent, body = match.group(1), match.group(2)
    maths = textwrap.dedent(body).strip("\n")
    return f"{indent}$$\n{textwrap.indent(maths, indent)}\n{indent}$$\n"


def convert(text: str) -> str:
    """Sphinx roles and math directives to Markdown with arithmatex maths and autorefs."""
    text = _MATH_BLOCK.sub(_math_block, text + "\n").rstrip("\n")
    text = _MATH_LINE.sub(lambda m: f"{m.group(1)}$$ {m.group(2)} $$", text)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(_reference, text)


class RstToMarkdown(griffe.Extension):
    """Converts every docstring once, when griffe loads the object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        del kwargs
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
