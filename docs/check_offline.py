"""Check that a built documentation site loads nothing from the network.

Every script, stylesheet and font the pages use must ship with the site, so that it renders
(maths included) without a network. This reads every ``.html`` and ``.css`` file of a built
site and fails on a ``<script src>``, a ``<link href>`` that loads something (a stylesheet, a
preload, a preconnect, an icon...), an embedded image or frame, or a CSS ``url(...)`` or
``@import``, that points to another host. Links a reader follows (``<a href>``) and links
that load nothing (``rel="canonical"``, ``"next"``...) are fine.

Usage, after ``mkdocs build --site-dir SITE``::

    python docs/check_offline.py SITE

It prints each offending reference with its file and exits with status 1 if there is one.
"""

from __future__ import annotations

import argparse
import html.parser
import pathlib
import re
import sys

__all__ = ["external_references", "find_external", "main"]

# A URL on another host: http://, https:// or protocol-relative //.
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
# <link rel=...> values that only name or describe a page, and load nothing.
_HARMLESS_RELS = {"alternate", "author", "canonical", "help", "license", "next", "prev", "search"}
# Elements whose src is loaded with the page (an image on another host is missing offline).
_EMBEDS = {"audio", "embed", "iframe", "img", "source", "track", "video"}
_CSS_URL = re.compile(r"""(?:@import\s+(?:url\()?|url\()\s*["']?([^"')\s;]+)""", re.I)


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and _REMOTE.match(a.get("src", "")):
            self.found.append(f'<script src="{a["src"]}">')
        elif tag == "link" and _REMOTE.match(a.get("href", "")):
            rels = set(a.get("rel", "").lower().split())
            if not rels or not rels <= _HARMLESS_RELS:
                self.found.append(f'<link rel="{a.get("rel", "")}" href="{a["href"]}">')
        elif tag in _EMBEDS and _REMOTE.match(a.get("src", "")):
            self.found.append(f'<{tag} src="{a["src"]}">')
        if "style" in a:
            self.found += _css_remote(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += _css_remote(data)


def _css_remote(css: str) -> list[str]:
    return [f"url({u})" for u in _CSS_URL.findall(css) if _REMOTE.match(u)]


def external_references(text: str, suffix: str = ".html") -> list[str]:
    """The references to other hosts that a page (``.html``) or stylesheet (``.css``) loads.

    Args:
        text: the file's contents.
        suffix: ``".html"`` or ``".css"``, how to read ``text``.

    Returns:
        One string per offending reference, in the order they appear.

    >>> external_references('<script src="https://cdn.example.org/m.js"></script>')
    ['<script src="https://cdn.example.org/m.js">']
    >>> external_references('<script src="../js/m.js"></script><a href="https://x.org">x</a>')
    []
    """
    if suffix == ".css":
        return _css_remote(text)
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return collector.found


def find_external(site: pathlib.Path) -> list[str]:
    """Every external reference in the HTML and CSS files under ``site``, as ``file: ref``.

    Args:
        site: the folder ``mkdocs build`` wrote.

    Returns:
        ``"relative/path.html: reference"`` strings, sorted by file; empty if the site is
        self-contained.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "index.html").write_text('<link rel="stylesheet" href="s.css">')
    ...     find_external(pathlib.Path(d))
    []
    """
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix in {".html", ".css"} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [
                f"{path.relative_to(site)}: {r}" for r in external_references(text, path.suffix)
            ]
    return found


def main(argv: list[str] | None = None) -> int:
    """Check the site folder named on the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=pathlib.Path, help="the folder mkdocs build wrote")
    site = parser.parse_args(argv).site
    pages = list(site.rglob("*.html"))
    if not pages:
        print(f"check_offline: no HTML files under {site}", file=sys.stderr)
        return 1
    found = find_external(site)
    for line in found:
        print(f"external reference: {line}", file=sys.stderr)
    if found:
        print(
            f"check_offline: {len(found)} references to other hosts in {site}; ship the file "
            "with the site (docs/javascripts/vendor/) instead",
            file=sys.stderr,
        )
        return 1
    print(f"check_offline: {len(pages)} pages, nothing loaded from another host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
