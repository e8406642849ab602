"""Regenerates the gallery figures in docs/gallery/ by running each example's ``main()``.

The figures are committed, so building the site needs neither JAX training runs nor
matplotlib; run this after changing an example (or gradtx code an example shows) and commit the
PNGs it writes::

    python docs/make_gallery.py            # every example
    python docs/make_gallery.py gabor      # only the named ones

Each example runs with the arguments in ``EXAMPLES`` (modest step counts, seconds each on a
laptop CPU) and writes ``<name>.png`` into docs/gallery/. The PNG is then re-encoded with a
256-colour palette (matplotlib's anti-aliased lines use few colours, so this looks the same and
is two to three times smaller). The script fails if a figure is missing or still larger than
``MAX_BYTES``, so the repository stays small.
"""

from __future__ import annotations

import importlib
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "gallery"
MAX_BYTES = 150_000

# example module -> command-line arguments (besides --out) for the gallery figure.
EXAMPLES: dict[str, list[str]] = {
    "schedules": ["--steps", "1000"],
    "linear_regression": ["--steps", "200"],
    "gabor": ["--steps", "300"],
    "hparam_grid": ["--steps", "300"],
    "initialisation": ["--depth", "20", "--width", "512"],
    "normalisation": ["--steps", "600"],
    "optimizer_paths": ["--steps", "200"],
}
# Examples that write several figures, or one not named after the script.
FIGURES: dict[str, list[str]] = {
    "optimizer_paths": ["optimizer_paths_quadratic.png", "optimizer_paths_rosenbrock.png"],
}


def shrink(path: pathlib.Path) -> int:
    """Re-encodes a PNG with a 256-colour palette (no dithering); returns its new size."""
    from PIL import Image  # Pillow comes with matplotlib

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    palette = rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    palette.save(path, optimize=True)
    return path.stat().st_size


def make(names: list[str]) -> list[pathlib.Path]:
    sys.path.insert(0, str(ROOT))  # `examples` is a package at the repository root
    GALLERY.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if name not in EXAMPLES:
            raise SystemExit(f"unknown example {name!r}; choose from {sorted(EXAMPLES)}")
        module = importlib.import_module(f"examples.{name}")
        start = time.perf_counter()
        module.main([*EXAMPLES[name], "--out", str(GALLERY)])
        seconds = time.perf_counter() - start
        for file_name in FIGURES.get(name, [f"{name}.png"]):
            figure = GALLERY / file_name
            if not figure.is_file():
                raise SystemExit(f"examples/{name}.py did not write {figure}")
            size = shrink(figure)
            print(f"{figure.relative_to(ROOT)}: {size / 1000:.0f} kB, {seconds:.0f} s")
            if size > MAX_BYTES:
                raise SystemExit(
                    f"{figure.name} is {size} bytes, over the gallery's {MAX_BYTES}; lower its "
                    "dpi or figure size in the example"
                )
            written.append(figure)
    return written


if __name__ == "__main__":
    make(sys.argv[1:] or list(EXAMPLES))
