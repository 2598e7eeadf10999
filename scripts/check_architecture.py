#!/usr/bin/env python3
"""Checks that docs/ARCHITECTURE.md's crate table matches the workspace.

Usage: scripts/check_architecture.py [--write]

Without flags: exits 1, printing one line per problem, when a workspace crate is missing
from the table between `<!-- crates:begin -->` and `<!-- crates:end -->`, the table names a
crate that does not exist, or a crate's listed workspace dependencies differ from its real
normal dependencies (`cargo metadata --format-version 1 --no-deps`).

--write regenerates the table: each crate's purpose (its Cargo.toml `description`), internal
dependencies, source lines and test count (as scripts/crate_stats.py measures them).
python3 standard library only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crate_stats  # noqa: E402

BEGIN = "<!-- crates:begin -->"
END = "<!-- crates:end -->"
DOC = Path("docs/ARCHITECTURE.md")


def table(cs: list[crate_stats.Crate]) -> str:
    """The generated crate table (without the markers)."""
    rows = [
        "| crate | purpose | depends on (workspace) | source lines | tests |",
        "|---|---|---|---:|---:|",
    ]
    for c in cs:
        purpose = c.description.replace("|", "\\|") or "(no description in Cargo.toml)"
        deps = ", ".join(c.deps) or "-"
        rows.append(f"| {c.name} | {purpose} | {deps} | {c.lines} | {c.tests} |")
    return "\n".join(rows)


def parse_table(text: str) -> tuple[dict[str, list[str]] | None, list[str]]:
    """The crate -> deps mapping listed between the markers, and problems reading it."""
    if BEGIN not in text or END not in text:
        return None, [f"{DOC}: the markers {BEGIN} and {END} are missing"]
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    listed: dict[str, list[str]] = {}
    problems = []
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| crate |"):
            continue
        cells = [c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")]
        if len(cells) < 3:
            problems.append(f"{DOC}: table row has fewer than 3 columns: {line}")
            continue
        name = cells[0].strip("`")
        deps = [] if cells[2] in ("", "-") else [d.strip().strip("`") for d in cells[2].split(",")]
        if name in listed:
            problems.append(f"{DOC}: crate {name} is listed twice")
        listed[name] = sorted(deps)
    return listed, problems


def check(text: str, cs: list[crate_stats.Crate]) -> list[str]:
    """Every difference between the table and the workspace, one line each."""
    listed, problems = parse_table(text)
    if listed is None:
        return problems
    real = {c.name: c.deps for c in cs}
    for name in sorted(real.keys() - listed.keys()):
        problems.append(f"{DOC}: crate {name} is missing from the crate table")
    for name in sorted(listed.keys() - real.keys()):
        problems.append(f"{DOC}: the crate table lists {name}, which is not a workspace crate")
    for name in sorted(real.keys() & listed.keys()):
        if listed[name] != real[name]:
            problems.append(
                f"{DOC}: {name} depends on [{', '.join(real[name])}] "
                f"but the table says [{', '.join(listed[name])}]"
            )
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="regenerate the table in place")
    args = ap.parse_args()
    meta = crate_stats.metadata()
    root = Path(meta["workspace_root"])
    doc = root / DOC
    text = doc.read_text(encoding="utf-8")
    cs = crate_stats.crates(meta)
    if args.write:
        if BEGIN not in text or END not in text:
            print(f"{DOC}: add the markers {BEGIN} and {END} where the table goes", file=sys.stderr)
            return 1
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        doc.write_text(f"{head}{BEGIN}\n{table(cs)}\n{END}{tail}", encoding="utf-8")
        return 0
    problems = check(text, cs)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
