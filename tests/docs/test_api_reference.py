"""Docs coverage: every public name has an API entry, and every entry exists."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

import gradtx

DOCS = pathlib.Path(__file__).parents[2] / "docs"


def _load_extension():
    """docs/griffe_rst.py, the docs build's own resolver and converter."""
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "griffe_rst.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTENSION = _load_extension()
resolve = EXTENSION._resolve
TARGETS = sorted(
    {t for page in DOCS.glob("api/*.md") for t in re.findall(r"^::: (\S+)", page.read_text(), re.M)}
)


NAMESPACES = {
    "gradtx": gradtx,
    "gradtx.nn": gradtx.nn,
    "gradtx.nn.initializers": gradtx.nn.initializers,
    "gradtx.losses": gradtx.losses,
    "gradtx.microbatching": gradtx.microbatching,
}


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_name_has_an_api_entry(namespace):
    module = NAMESPACES[namespace]
    names = {t.rsplit(".", 1)[-1] for t in TARGETS}
    objects = {id(resolve(t)) for t in TARGETS if callable(resolve(t))}
    # A second spelling (xavier_normal for glorot_normal) is covered by its object's entry.
    missing = [
        n for n in module.__all__ if n not in names and id(getattr(module, n)) not in objects
    ]
    assert not missing, f"add these {namespace} names to a page in docs/api/: {missing}"


@pytest.mark.parametrize("target", TARGETS)
def test_api_entries_exist(target):
    resolve(target)


def test_nav_pages_exist():
    nav = re.findall(r":\s*(\S+\.md)\s*$", (DOCS.parent / "mkdocs.yml").read_text(), re.M)
    assert nav
    for page in nav:
        assert (DOCS / page).is_file(), page


def test_sphinx_roles_become_markdown():
    convert = EXTENSION.convert
    text = (
        "Uses :math:`\\beta` and :func:`scale_by_adam` or :class:`~gradtx.tree.norm`.\n\n"
        "    .. math::\n        u = -\\eta g\n\n    .. math:: x = 1\n"
    )
    out = convert(text)
    assert "$\\beta$" in out
    assert "[`scale_by_adam`][gradtx.scale_by_adam]" in out
    assert "[`norm`][gradtx.tree.norm]" in out
    assert "    $$\n    u = -\\eta g\n    $$" in out
    assert "    $$ x = 1 $$" in out
    assert ":math:" not in out and ".. math::" not in out


# The site works offline: every script, stylesheet and font it loads ships with it.

_spec = importlib.util.spec_from_file_location("check_offline", DOCS / "check_offline.py")
assert _spec is not None and _spec.loader is not None
CHECK_OFFLINE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CHECK_OFFLINE)
MKDOCS_YML = (DOCS.parent / "mkdocs.yml").read_text()
VENDOR = DOCS / "javascripts" / "vendor"


def _yaml_list(key):
    """The items of a top-level list in mkdocs.yml (read without PyYAML, like the nav test)."""
    block = re.search(rf"^{key}:\n((?:[ \t]+-.*\n?)*)", MKDOCS_YML, re.M)
    return [] if block is None else re.findall(r"^\s+-\s*(\S+)", block.group(1), re.M)


@pytest.mark.parametrize("key", ["extra_javascript", "extra_css"])
def test_extra_assets_are_local_files(key):
    for entry in _yaml_list(key):
        assert not re.match(r"(https?:)?//", entry), (
            f"{key} loads {entry} from the network: vendor it under docs/javascripts/vendor/"
        )
        assert (DOCS / entry).is_file(), f"{key} names {entry}, which is not in docs/"
    if key == "extra_javascript":
        assert any("mathjax" in e for e in _yaml_list(key)), "the maths renderer is missing"


def test_theme_loads_no_web_fonts():
    theme = re.search(r"^theme:\n((?:[ \t]+.*\n|\n)*)", MKDOCS_YML, re.M)
    assert theme is not None
    assert re.search(r"^  font: false\s*$", theme.group(1), re.M), (
        "set theme.font: false in mkdocs.yml, or Material loads Google Fonts from the network"
    )


def test_own_scripts_and_pages_load_nothing_from_the_network():
    own = [p for p in DOCS.rglob("*") if p.suffix in {".js", ".css"} and VENDOR not in p.parents]
    assert own
    for path in own:
        code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", path.read_text(), flags=re.S | re.M)
        assert not re.search(r"(https?:)?//[\w.-]+\.\w", code), f"{path} names a URL"
    for page in DOCS.rglob("*.md"):
        found = CHECK_OFFLINE.external_references(page.read_text())
        assert not found, f"{page} loads {found}"


def test_vendored_files_carry_their_license_and_origin():
    readme = (VENDOR / "README.md").read_text()
    for path in VENDOR.rglob("*.js"):
        assert (path.parent / "LICENSE").is_file(), f"{path} needs its LICENSE beside it"
        assert path.relative_to(VENDOR).as_posix() in readme, f"say where {path.name} is from"
    assert re.search(r"MathJax 3\.\d+\.\d+", readme)


def test_check_offline_finds_external_references(tmp_path, capsys):
    assert CHECK_OFFLINE.main([str(tmp_path)]) == 1  # no pages at all is an error too
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="assets/main.css"><script src="js/m.js"></script>'
        '<link rel="canonical" href="https://example.org/"><a href="https://example.org">x</a>'
    )
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "main.css").write_text('a{background:url("data:image/svg+xml,x")}')
    assert CHECK_OFFLINE.main([str(tmp_path)]) == 0
    (tmp_path / "sub" / "index.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
        "<link rel=stylesheet href=//fonts.googleapis.com/css?family=Roboto>"
        '<style>@import url("https://example.org/x.css");</style>'
    )
    (tmp_path / "assets" / "fonts.css").write_text(
        "@font-face{src:url(https://fonts.gstatic.com/r.woff2)}"
    )
    capsys.readouterr()
    assert CHECK_OFFLINE.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "tex-mml-chtml.js" in err and "fonts.gstatic.com/r.woff2" in err
    assert len(CHECK_OFFLINE.find_external(tmp_path)) == 5


def test_check_offline_doctests():
    import doctest

    assert doctest.testmod(CHECK_OFFLINE).failed == 0
