#!/usr/bin/env python3
"""Lists source files over 1,500 lines and functions over 150 lines (issue 15's limits),
outside tests, benches and `#[cfg(test)]` modules. Exit 1 if any; one line per finding.

Functions are found by their `fn` line and measured to the closing brace at the same
indentation (rustfmt's layout), which is exact for formatted code."""

import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1]) / "crates"
FN = re.compile(r"^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?(extern \"C\" )?fn (\w+)")
MAX_FILE, MAX_FN = 1500, 150
# Generated tables and data-only files may be longer (none today).
EXEMPT = set()


def code_lines(path):
    """The file's lines with `#[cfg(test)]` modules blanked out."""
    lines = path.read_text().splitlines()
    out, skip_indent = [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        if skip_indent is None and line.strip() == "#[cfg(test)]" and i + 1 < len(lines) \
                and re.match(r"\s*(pub(\([^)]*\))? )?mod \w+ \{", lines[i + 1]):
            skip_indent = len(line) - len(line.lstrip())
            out += ["", ""]
            i += 2
            continue
        if skip_indent is not None:
            if line.startswith(" " * skip_indent + "}") and len(line) - len(line.lstrip()) == skip_indent:
                skip_indent = None
            out.append("")
        else:
            out.append(line)
        i += 1
    return out


def main():
    problems = []
    for path in sorted(ROOT.glob("*/src/**/*.rs")):
        rel = path.relative_to(ROOT.parent)
        if path.name == "tests.rs" or "/tests/" in str(rel) or str(rel) in EXEMPT:
            continue
        lines = code_lines(path)
        n = sum(1 for l in lines if l.strip())
        if n > MAX_FILE:
            problems.append(f"{rel}: {n} non-blank lines outside tests (limit {MAX_FILE})")
        for i, line in enumerate(lines):
            m = FN.match(line)
            if not m or line.rstrip().endswith(";"):
                continue
            indent = m.group(1)
            for j in range(i + 1, len(lines)):
                if lines[j].startswith(indent + "}") and not lines[j].startswith(indent + " "):
                    length = j - i + 1
                    if length > MAX_FN:
                        problems.append(f"{rel}:{i + 1}: fn {m.group(8)} is {length} lines (limit {MAX_FN})")
                    break
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
