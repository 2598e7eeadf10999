"""The first hour (issue 22): what a new user types after `eval "$(cairn credentials ...)"`
works with nothing else in the environment, the AWS CLI and `cairn` alike."""

import datetime
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import CAIRN, MGMT, Cairn

CONFIG = f"""
version = 1
account_id = "{MGMT}"
home_region = "eu-west-1"
regions = ["us-east-1", "eu-west-1"]

[delivery]
interval = "1s"
digest_period = "2s"
"""


@pytest.fixture
def fresh():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-first-hour-"))
    server = Cairn(tmp / "data", config=CONFIG)
    server.cli("bucket", "create", "my-trail-logs")
    server.start()
    try:
        yield server, tmp
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def user_env(server, tmp):
    """Only what `eval "$(cairn credentials --endpoint-url ...)"` exports, a PATH and an empty
    HOME: no AWS configuration file, no region from anywhere else."""
    out = server.cli("credentials", "--endpoint-url", server.endpoint).stdout
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp / "home")}
    (tmp / "home").mkdir(exist_ok=True)
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line.removeprefix("export ").split("=", 1)
            env[k] = v
    return env


def run(env, *args):
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=180)


def test_credentials_export_the_home_region(fresh):
    server, tmp = fresh
    env = user_env(server, tmp)
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == server.endpoint


def test_walkthrough_to_a_validated_trail_with_only_the_exported_environment(fresh):
    server, tmp = fresh
    env = user_env(server, tmp)
    arn = f"arn:aws:cloudtrail:eu-west-1:{MGMT}:trail/audit"
    r = run(env, "aws", "cloudtrail", "create-trail", "--name", "audit",
            "--s3-bucket-name", "my-trail-logs", "--is-multi-region-trail",
            "--enable-log-file-validation")
    assert r.returncode == 0, r.stderr
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    assert run(env, "aws", "cloudtrail", "start-logging", "--name", "audit").returncode == 0
    for _ in range(3):
        assert run(env, "aws", "cloudtrail", "get-trail-status", "--name", "audit").returncode == 0
        time.sleep(2.2)
    assert run(env, "aws", "cloudtrail", "stop-logging", "--name", "audit").returncode == 0
    time.sleep(5)
    since = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    stock = run(env, "aws", "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", since)
    assert stock.returncode == 0, stock.stdout + stock.stderr
    # The same environment is all `cairn validate` needs: no --data-dir, no --s3-endpoint.
    ours = run(env, CAIRN, "validate", "--trail-arn", arn, "--start-time", since, "--quiet")
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "digest files valid" in ours.stdout + ours.stderr, ours.stdout + ours.stderr
