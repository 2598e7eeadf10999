#!/usr/bin/env python3
"""Per workspace crate: source lines without tests, test count, internal dependency edges.

Usage: scripts/crate_stats.py [--markdown] [--json]   (from anywhere inside the checkout)

- Source lines: non-blank lines of the crate's `.rs` files, leaving out `tests/`, `benches/`,
  files named `tests.rs` (the `#[cfg(test)] mod tests;` convention) and inline
  `#[cfg(test)] mod ... { ... }` blocks (found by rustfmt's indentation).
- Tests: `#[test]` and `#[tokio::test]` attributes anywhere in the crate (unit, integration,
  the functions of a `proptest!` block: each counts as one). Doc tests are not counted.
- Edges: the crate's normal (non-dev, non-build) dependencies on other workspace crates.

Reads `cargo metadata --format-version 1 --no-deps`; python3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TEST_ATTR = re.compile(r"^\s*#\[(?:tokio::)?test\b")
CFG_TEST = re.compile(r"^(\s*)#\[cfg\(test\)\]\s*$")
INLINE_MOD = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{\s*$")


@dataclass
class Crate:
    """One workspace crate as the scripts see it."""

    name: str
    root: Path
    description: str
    deps: list[str] = field(default_factory=list)
    lines: int = 0
    tests: int = 0


def metadata(cwd: Path | None = None) -> dict:
    """The workspace's `cargo metadata` (no dependencies resolved)."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def is_test_path(rel: Path) -> bool:
    """Whether a file (relative to its crate) is test or bench code as a whole."""
    return rel.parts[0] in ("tests", "benches") or rel.name == "tests.rs"


def source_lines(text: str) -> int:
    """Non-blank lines outside inline `#[cfg(test)] mod x { ... }` blocks."""
    count = 0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = CFG_TEST.match(lines[i])
        if m and i + 1 < len(lines):
            nxt = INLINE_MOD.match(lines[i + 1])
            if nxt and nxt.group(1) == m.group(1):
                close = m.group(1) + "}"
                j = i + 2
                while j < len(lines) and lines[j].rstrip() != close:
                    j += 1
                i = j + 1
                continue
        if lines[i].strip():
            count += 1
        i += 1
    return count


def measure(root: Path) -> tuple[int, int]:
    """(source lines without tests, test count) of the crate in `root`."""
    lines = tests = 0
    for path in sorted(root.rglob("*.rs")):
        rel = path.relative_to(root)
        if rel.parts[0] == "target":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        tests += sum(1 for line in text.splitlines() if TEST_ATTR.match(line))
        if not is_test_path(rel):
            lines += source_lines(text)
    return lines, tests


def crates(meta: dict) -> list[Crate]:
    """Every workspace member, measured, sorted by name."""
    members = set(meta["workspace_members"])
    pkgs = [p for p in meta["packages"] if p["id"] in members]
    names = {p["name"] for p in pkgs}
    out = []
    for p in pkgs:
        deps = sorted(
            {d["name"] for d in p["dependencies"] if d["name"] in names and d.get("kind") is None}
        )
        c = Crate(
            name=p["name"],
            root=Path(p["manifest_path"]).parent,
            description=(p.get("description") or "").strip(),
            deps=deps,
        )
        c.lines, c.tests = measure(c.root)
        out.append(c)
    return sorted(out, key=lambda c: c.name)


def markdown(cs: list[Crate]) -> str:
    """The stats as a Markdown table, with a total row."""
    rows = ["| crate | source lines | tests | depends on |", "|---|---:|---:|---|"]
    for c in cs:
        rows.append(f"| {c.name} | {c.lines} | {c.tests} | {', '.join(c.deps) or '-'} |")
    edges = sum(len(c.deps) for c in cs)
    rows.append(
        f"| **{len(cs)} crates** | **{sum(c.lines for c in cs)}** | "
        f"**{sum(c.tests for c in cs)}** | {edges} edges |"
    )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    cs = crates(metadata())
    if args.json:
        print(
            json.dumps(
                [
                    {"crate": c.name, "lines": c.lines, "tests": c.tests, "deps": c.deps}
                    for c in cs
                ],
                indent=2,
            )
        )
    elif args.markdown:
        print(markdown(cs))
    else:
        width = max(len(c.name) for c in cs)
        for c in cs:
            print(f"{c.name:<{width}}  {c.lines:>7} lines  {c.tests:>5} tests  -> {' '.join(c.deps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
