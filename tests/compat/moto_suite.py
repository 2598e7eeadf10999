"""moto's own CloudTrail test suite (`tests/test_cloudtrail` of getmoto/moto) against Cairn.

Two roles in one module:
- `ensure_suite()` / `python3 tests/compat/moto_suite.py fetch`: the pinned moto sdist from
  PyPI, unpacked once into a cache directory (`~/.cache/cairn/moto-<version>`, or
  `$CAIRN_MOTO_CACHE`). The sdist carries moto's `tests/` tree; nothing of it is copied into
  this repository.
- A pytest plugin (`-p moto_suite`, loaded by `test_moto_cloudtrail.py` in a child pytest run
  inside the unpacked sdist): every moto test gets a fresh `cairn serve` on the one port
  moto's server mode points at (`TEST_SERVER_MODE_ENDPOINT`, fixed when moto's decorators are
  applied), in the account moto's tests assume (123456789012), and each test's outcome is
  written to `$CAIRN_MOTO_RESULTS` as JSON.

The test-only bootstrap is Cairn's ordinary one: the root credentials of the configured
account come from `CAIRN_ROOT_ACCESS_KEY_ID` / `CAIRN_ROOT_SECRET_ACCESS_KEY`, and moto is told
not to swap in its fake `FOOBARKEY` credentials (`core.mock_credentials = False`, a documented
moto setting), so boto3 signs with those root credentials. moto's `/moto-api/reset` calls are
switched off (`MOTO_CALL_RESET_API=false`): a fresh server replaces a reset.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

MOTO_VERSION = "5.2.1"
# The account, and the regions its tests use, that moto's CloudTrail tests assume.
MOTO_ACCOUNT = "123456789012"
MOTO_CONFIG = f"""
version = 1
account_id = "{MOTO_ACCOUNT}"
home_region = "us-east-1"
regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-3",
           "ap-southeast-1", "ap-southeast-2"]

[organization]
id = "o-motosuite01"
member_accounts = []
"""


def cache_dir() -> pathlib.Path:
    base = os.environ.get("CAIRN_MOTO_CACHE") or str(pathlib.Path.home() / ".cache" / "cairn")
    return pathlib.Path(base)


def ensure_suite() -> pathlib.Path:
    """The unpacked moto sdist (its root holds `moto/` and `tests/`); downloads it once."""
    root = cache_dir() / f"moto-{MOTO_VERSION}"
    if (root / "tests" / "test_cloudtrail" / "test_cloudtrail.py").is_file():
        return root
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-binary", ":all:", "--no-deps", "--dest", tmp, f"moto=={MOTO_VERSION}"],
            check=True,
            timeout=600,
        )
        sdist = pathlib.Path(tmp) / f"moto-{MOTO_VERSION}.tar.gz"
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        # A rename is atomic: a half-unpacked tree is never mistaken for the suite.
        os.replace(pathlib.Path(tmp) / f"moto-{MOTO_VERSION}", root)
    return root


# -- the pytest plugin (active only in the child run, loaded with `-p moto_suite`) -----------

_results: dict = {}


def pytest_configure(config):
    if not os.environ.get("CAIRN_MOTO_RESULTS"):
        return
    from moto.core.config import default_user_config

    default_user_config.setdefault("core", {})["mock_credentials"] = False


def _fresh_cairn():
    import pytest

    from conftest import Cairn

    @pytest.fixture(autouse=True)
    def cairn_per_test():
        """A fresh server per moto test, on the port moto's server mode targets."""
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-moto-"))
        server = Cairn(tmp / "data", config=MOTO_CONFIG)
        server.start(listen=f"127.0.0.1:{os.environ['CAIRN_MOTO_PORT']}")
        try:
            yield server
        finally:
            server.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    return cairn_per_test


if os.environ.get("CAIRN_MOTO_RESULTS"):
    cairn_per_test = _fresh_cairn()


def pytest_runtest_logreport(report):
    if not os.environ.get("CAIRN_MOTO_RESULTS"):
        return
    if report.when == "call" or report.outcome != "passed":
        # The first failing phase wins (a setup error is reported, not overwritten).
        prev = _results.get(report.nodeid)
        if prev is None or prev["outcome"] == "passed":
            _results[report.nodeid] = {
                "outcome": report.outcome,
                "when": report.when,
                "detail": report.longreprtext[-1500:] if report.failed else "",
            }


def pytest_sessionfinish(session):
    path = os.environ.get("CAIRN_MOTO_RESULTS")
    if path:
        pathlib.Path(path).write_text(json.dumps(_results, indent=1, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1:] != ["fetch"]:
        sys.exit("usage: moto_suite.py fetch")
    print(ensure_suite())
