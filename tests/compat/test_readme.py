"""The README's "First steps", run as written against a fresh server (issue 22).

The block is taken from README.md at test time, so the README cannot drift from what works.
Only these substitutions are made, each because a test cannot do what a person does:
- `cairn serve &` is started by the test (port 0 instead of 4590, so tests can run side by
  side); the block's `127.0.0.1:4590` becomes the real address.
- `CAIRN_CONFIG` points at a file with a short delivery interval (so log files and digests
  exist seconds later, not after 5 minutes) and `[import] accounts` for the sample logs.
- `AWSLogs/` holds gzip copies of the public CloudTrail samples in ../shared/data.
- The alarm webhook `http://alerts.example/hook` becomes a loopback URL nothing listens on
  (tests only talk to loopback).
- Before `cairn validate`, the test waits until the trail's first us-east-1 digest is in the
  bucket, as a reader would have (digests come once per digest period, and a debug build
  takes a while to make each region's first RSA signing key).
"""

import gzip
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

from conftest import CAIRN

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "data" / "cloudtrail" / "invictus-ir-sigma-aws"

CONFIG = """
version = 1

[delivery]
interval = "1s"
digest_period = "2s"

[import]
accounts = ["123837392027"]
"""


def first_steps():
    text = (REPO / "README.md").read_text()
    section = text.split("## First steps", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README.md has no sh block under '## First steps'"
    return block.group(1).replace("\\\n", " ")


def bash(script, cwd, env):
    """Runs README lines under `set -euo pipefail`, failing on the first non-zero exit."""
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-O", "globstar", "-xc", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"README step failed:\n{out.stderr[-6000:]}"
    return out


def test_the_readme_first_steps_run_as_written():
    lines = [l for l in first_steps().splitlines() if l.strip()]
    assert lines[0].startswith("cairn serve &"), lines[0]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-readme-"))
    try:
        (tmp / "cairn.toml").write_text(CONFIG)
        logs = tmp / "AWSLogs" / "123837392027" / "CloudTrail" / "us-east-1" / "2023" / "07" / "10"
        logs.mkdir(parents=True)
        samples = sorted(SAMPLES.glob("*.json"))
        assert samples, f"no samples in {SAMPLES}"
        for f in samples[:5]:
            (logs / (f.name + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
        env = {
            "PATH": f"{pathlib.Path(CAIRN).resolve().parent}:{os.environ['PATH']}",
            "HOME": str(tmp),
            "CAIRN_CONFIG": str(tmp / "cairn.toml"),
            "CAIRN_LOG": "warn",
        }
        server = subprocess.Popen(
            [CAIRN, "serve", "--listen", "127.0.0.1:0"], cwd=tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            assert line.startswith("listening on "), line
            addr = line.split()[-1]
            script = "\n".join(lines[1:])
            script = script.replace("127.0.0.1:4590", addr)
            script = script.replace("http://alerts.example/hook", "http://127.0.0.1:9/hook")
            before, validate = script.split("cairn validate", 1)
            first = bash(before, tmp, env)
            assert "ingested " in first.stdout, first.stdout
            deadline = time.time() + 180
            while time.time() < deadline:
                ls = subprocess.run(["cairn", "bucket", "ls", "my-trail-logs"], cwd=tmp,
                                    env=env, capture_output=True, text=True, timeout=60)
                if "CloudTrail-Digest/us-east-1/" in ls.stdout:
                    break
                time.sleep(1)
            # The credentials export again: each bash runs in a fresh shell.
            second = bash(lines[1].replace("127.0.0.1:4590", addr) + "\ncairn validate" + validate, tmp, env)
            assert "valid" in second.stdout + second.stderr, second.stdout
        finally:
            server.terminate()
            server.communicate(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
