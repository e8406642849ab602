"""A griffe extension: renders the Sphinx roles of gradtx's docstrings as MkDocs Markdown.

Docstrings stay readable in ``help()`` and in editors (``:math:`x```, ``.. math::`` blocks,
``:func:`name```); for the site they become ``$x$``, ``$$...$$`` (rendered by MathJax through
pymdownx.arithmatex) and cross-references to the API pages. A reference becomes a link only
when its target is documented in ``docs/api/*.md`` (found by its full name, or by its short
name in the docstring's own public namespace, then in ``gradtx``); anything else, such as a
JAX function, is rendered as inline code.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pathlib
import re
import textwrap
from typing import Any

try:  # only the extension class needs griffe; the converter is tested without it
    import griffe
except ImportError:  # pragma: no cover
    griffe = None

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^([ \t]*)\.\. math::[ \t]*\n((?:\1[ \t]+.*\n|[ \t]*\n)+)", re.M)
_MATH_LINE = re.compile(r"^([ \t]*)\.\. math::[ \t]+(\S.*)$", re.M)
_EXAMPLE = re.compile(r"^([ \t]*)Example:[ \t]*$", re.M)
_API = pathlib.Path(__file__).parent / "api"


def _resolve(path: str) -> Any:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


@functools.cache
def documented() -> frozenset[str]:
    """Every identifier the API pages render: targets, module members and class methods."""
    names: set[str] = set()
    for page in _API.glob("*.md"):
        for target in re.findall(r"^::: (\S+)", page.read_text(), re.M):
            names.add(target)
            obj = _resolve(target)
            if inspect.ismodule(obj):
                names.update(f"{target}.{n}" for n in getattr(obj, "__all__", ()))
            elif inspect.isclass(obj):
                names.update(
                    f"{target}.{n}"
                    for n, v in vars(obj).items()
                    if not n.startswith("_") and callable(v)
                )
    return frozenset(names)


def _namespaces(owner: str) -> list[str]:
    """Public namespaces to look a short name up in, the owner's own first."""
    parts = owner.split(".")
    own = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return [*own, "gradtx"]


def _reference(match: re.Match[str], owner: str) -> str:
    target = match.group(2).strip().removesuffix("()")
    short = target.rsplit(".", 1)[-1]
    known = documented()
    candidates = [target] if target.startswith("gradtx.") else []
    candidates += [f"{ns}.{target}" for ns in _namespaces(owner)]
    for candidate in candidates:
        if candidate in known:
            return f"[`{short}`][{candidate}]"
    return f"`{short if match.group(1) else target}`"


def _math_block(match: re.Match[str]) -> str:
    indent, body = match.group(1), match.group(2)
    maths = textwrap.dedent(body).strip("\n")
    return f"{indent}$$\n{textwrap.indent(maths, indent)}\n{indent}$$\n"


def convert(text: str, owner: str = "gradtx") -> str:
    """Sphinx roles and math directives to Markdown; ``owner`` is the documented object's
    path, used to resolve short cross-reference targets."""
    text = _MATH_BLOCK.sub(_math_block, text + "\n").rstrip("\n")
    text = _MATH_LINE.sub(lambda m: f"{m.group(1)}$$ {m.group(2)} $$", text)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    # Google style's section is "Examples:"; griffe reads "Example:" as an admonition, whose
    # doctest output would then be parsed as Markdown.
    text = _EXAMPLE.sub(lambda m: f"{m.group(1)}Examples:", text)
    return _ROLE.sub(lambda m: _reference(m, owner), text)


if griffe is not None:

    class RstToMarkdown(griffe.Extension):
        """Converts every docstring once, when griffe loads the object."""

        def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
            del kwargs
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj.path)
