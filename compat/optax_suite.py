"""Run the test files of the installed optax wheel against gradtx and count.

    python compat/optax_suite.py                  # every test file, several minutes
    python compat/optax_suite.py --group core     # the files of the Optax-core issue
    python compat/optax_suite.py alias_test.py    # files whose path contains a string

Every public name of every Optax namespace that gradtx also has is replaced by gradtx's
(``compat/optax_patch.py``); a test counts when it calls into gradtx. The script prints, per
file, the tests passed out of those exercising gradtx, then the names gradtx lacks per
namespace and every failure with its first error line. A file with failures is run once more
with Optax alone: tests that fail there too (Optax's own failures on this machine) are listed
apart and left out of the counts. It is a measurement, not a CI test; it needs the test extra
plus scikit-learn (Optax's alias_test imports it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

GROUPS = {
    "core": (
        "_src/alias_test.py",
        "_src/base_test.py",
        "_src/combine_test.py",
        "_src/transform_test.py",
        "_src/update_test.py",
        "_src/linesearch_test.py",
        "_src/lookahead_test.py",
        "_src/factorized_test.py",
        "_src/float64_test.py",
        "_src/utils_test.py",
        "schedules/",
        "transforms/",
    ),
    "namespaces": (
        "losses/",
        "projections/",
        "tree_utils/",
        "assignment/",
        "perturbations/",
        "microbatching/",
        "_src/numerics_test.py",
        "_src/linear_algebra_test.py",
    ),
    "contrib": ("contrib/",),
}


def optax_dir() -> pathlib.Path:
    import optax

    return pathlib.Path(optax.__file__).parent


def group_of(rel: str) -> str:
    for name, prefixes in GROUPS.items():
        if any(rel.startswith(p) for p in prefixes):
            return name
    return "other"


def run_file(path: pathlib.Path, timeout: float, patch: bool = True) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "rows.json"
        env = dict(os.environ, GRADTX_OPTAX_SUITE_OUT=str(out), PYTHONPATH=str(ROOT))
        if not patch:
            env["GRADTX_OPTAX_NOPATCH"] = "1"
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "compat.optax_patch", "-W", "ignore", str(path),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return [{"id": str(path), "outcome": "failed", "exercising": True,
                     "reason": f"timed out after {timeout:.0f}s"}]  # fmt: skip
        if not out.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            return [{"id": str(path), "outcome": "failed", "exercising": True,
                     "reason": "collection failed: " + " | ".join(tail)}]  # fmt: skip
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="run files whose path contains one")
    parser.add_argument("--group", choices=[*GROUPS, "other"], action="append")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per file")
    parser.add_argument("--json", type=pathlib.Path, help="write every row here")
    parser.add_argument("--quiet", action="store_true", help="no failure list")
    args = parser.parse_args()

    base = optax_dir()
    files = sorted(base.rglob("*_test.py"))
    rel = {f: f.relative_to(base).as_posix() for f in files}
    files = [f for f in files if not args.filters or any(s in rel[f] for s in args.filters)]
    files = [f for f in files if not args.group or group_of(rel[f]) in args.group]

    sys.path.insert(0, str(ROOT))
    from compat.optax_patch import namespace_names

    rows_by_file = {}
    optax_fails = []
    for f in files:
        rows = run_file(f, args.timeout)
        if any(r.get("exercising") and r["outcome"] == "failed" for r in rows):
            alone = {r["id"]: r["outcome"] for r in run_file(f, args.timeout, patch=False)}
            for r in rows:
                failed = r.get("exercising") and r["outcome"] == "failed"
                if failed and alone.get(r["id"]) == "failed":
                    r["outcome"] = "fails with Optax too"
                    optax_fails.append(r)
        rows_by_file[rel[f]] = rows
        ex = [r for r in rows if r.get("exercising") and r["outcome"] != "fails with Optax too"]
        ok = sum(r["outcome"] == "passed" for r in ex)
        print(f"{rel[f]:48s} {ok:5d} / {len(ex):5d} exercising  ({len(rows)} tests)", flush=True)

    totals = collections.Counter()
    for name, rows in rows_by_file.items():
        ex = [r for r in rows if r.get("exercising") and r["outcome"] != "fails with Optax too"]
        g = group_of(name)
        totals[g, "ok"] += sum(r["outcome"] == "passed" for r in ex)
        totals[g, "ex"] += len(ex)
    print()
    for g in [*GROUPS, "other"]:
        if totals[g, "ex"]:
            ok, ex = totals[g, "ok"], totals[g, "ex"]
            print(f"group {g:12s} {ok:5d} / {ex:5d} passed ({100 * ok / ex:.1f}%)")
    ok = sum(v for (g, k), v in totals.items() if k == "ok")
    ex = sum(v for (g, k), v in totals.items() if k == "ex")
    if ex:
        print(f"all          {ok:5d} / {ex:5d} passed ({100 * ok / ex:.1f}%)")

    print("\nnames gradtx lacks, per Optax namespace:")
    n_have = n_all = 0
    for ns, (have, lack) in namespace_names().items():
        n_have += len(have)
        n_all += len(have) + len(lack)
        print(f"  {ns:14s} {len(have):3d} / {len(have) + len(lack):3d}  {' '.join(lack)}")
    print(f"  {'total':14s} {n_have:3d} / {n_all:3d}")

    if optax_fails:
        print("\nleft out, failing with Optax alone too:")
        for r in optax_fails:
            print(f"  {r['id']}\n      {r['reason']}")
    if not args.quiet:
        print("\nfailures:")
        for rows in rows_by_file.values():
            for r in rows:
                if r.get("exercising") and r["outcome"] == "failed":
                    print(f"  {r['id']}\n      {r['reason']}")
    if args.json:
        args.json.write_text(json.dumps(rows_by_file, indent=1))


if __name__ == "__main__":
    main()
