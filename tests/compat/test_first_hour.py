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


SHARED_LOGS = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cloudtrail"


def shared_log_files():
    files = sorted(p for p in SHARED_LOGS.rglob("*") if p.is_file() and p.suffix != ".md")
    assert files, f"no CloudTrail samples under {SHARED_LOGS} (CI has ../shared beside the checkout)"
    return files


def test_first_start_prints_the_exports_and_the_next_three_commands():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-first-start-"))
    try:
        (tmp / "cairn.toml").write_text(CONFIG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_ROOT_")}
        env["CAIRN_LOG"] = "warn"
        proc = subprocess.Popen(
            [CAIRN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data"),
             "--config", str(tmp / "cairn.toml")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("listening on "), line
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert "export AWS_ACCESS_KEY_ID=" in err, err
        assert "export AWS_REGION=eu-west-1" in err, err
        assert f"export AWS_ENDPOINT_URL=http://{line.split()[-1]}" in err, err
        for step in ("cairn bucket create my-trail-logs",
                     "aws cloudtrail create-trail --name audit --s3-bucket-name my-trail-logs",
                     "aws cloudtrail start-logging --name audit"):
            assert step in err, err
        # A second start does not print the secret again.
        proc = subprocess.Popen(
            [CAIRN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data"),
             "--config", str(tmp / "cairn.toml")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().startswith("listening on ")
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert "AWS_SECRET_ACCESS_KEY" not in err, err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_credentials_default_to_the_configured_listener(fresh):
    server, _ = fresh
    out = server.cli("credentials").stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4590" in out, out


def _ingest(server, tmp, files):
    env = user_env(server, tmp)
    return run(env, CAIRN, "ingest", "--quiet", *map(str, files))


def _ingest_all(server, tmp):
    return _ingest(server, tmp, shared_log_files())


def test_importing_other_accounts_logs_is_refused_with_the_setting_that_allows_it(fresh):
    server, tmp = fresh
    r = _ingest(server, tmp, sorted((SHARED_LOGS / "invictus-ir-sigma-aws").glob("*.json"))[:1])
    assert r.returncode != 0
    assert "[import] accounts" in r.stderr, r.stderr


def test_every_shared_cloudtrail_file_ingests_once_imports_are_configured():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-import-"))
    config = CONFIG + '\n[import]\naccounts = ["123837392027", "123456789123"]\n'
    config = config.replace('regions = ["us-east-1", "eu-west-1"]\n', "")
    server = Cairn(tmp / "data", config=config)
    server.start()
    try:
        # Every record of the real CloudTrail log files (invictus-ir) is accepted.
        real = [f for f in shared_log_files() if "invictus-ir" in str(f)]
        r = _ingest(server, tmp, real)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0 rejected" in r.stdout, r.stdout
        accepted = int(r.stdout.split("ingested ")[1].split()[0])
        assert accepted == 2900, r.stdout
        again = _ingest(server, tmp, real)
        assert again.returncode == 0, again.stderr
        assert "ingested 0 records" in again.stdout, again.stdout
        # The others are not CloudTrail records as AWS writes them: the user-guide excerpts
        # are wrapped as {"source_file", ..., "record"}, and Logstash moved the OTRF
        # records' eventTime into @timestamp. Each is refused, named with the missing field.
        for name, field in (("aws-docs-examples", "eventVersion"),
                            ("otrf-security-datasets", "eventTime")):
            files = [f for f in shared_log_files() if name in str(f)]
            r = _ingest(server, tmp, files)
            assert r.returncode != 0
            named = [l for l in r.stderr.splitlines() if l.startswith("rejected: /")]
            assert named and all(f"`{field}` is missing" in l for l in named), r.stderr
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
