"""Self-audit of every control-plane call, and how `cairn serve` starts and stops."""

import os
import pathlib
import signal
import socket
import subprocess

import botocore.exceptions
import pytest

from conftest import CAIRN, MGMT, ROOT_KEY, Cairn


def test_every_call_is_audited(cairn):
    ct = cairn.client(region="us-east-2")
    ct.create_trail(Name="audited", S3BucketName="trail-logs")
    ct.describe_trails()
    with pytest.raises(botocore.exceptions.ClientError):
        ct.create_trail(Name="audited", S3BucketName="trail-logs")
    ct.stop_logging(Name="audited")
    events = cairn.events()
    names = [e["eventName"] for e in events]
    assert names == ["CreateTrail", "DescribeTrails", "CreateTrail", "StopLogging"]
    for e in events:
        assert e["eventVersion"] == "1.11"
        assert e["eventSource"] == "cloudtrail.amazonaws.com"
        assert e["awsRegion"] == "us-east-2"
        assert e["eventType"] == "AwsApiCall"
        assert e["managementEvent"] is True
        assert e["eventCategory"] == "Management"
        assert e["recipientAccountId"] == MGMT
        assert e["sourceIPAddress"] == "127.0.0.1"
        assert e["userAgent"].startswith("Boto3/")
        assert e["userIdentity"] == {
            "type": "Root", "principalId": MGMT, "arn": f"arn:aws:iam::{MGMT}:root",
            "accountId": MGMT, "accessKeyId": ROOT_KEY,
        }
        assert len(e["eventID"]) == 36 and len(e["requestID"]) == 36
    create, describe, failed, stop = events
    assert create["readOnly"] is False
    assert create["requestParameters"] == {"name": "audited", "s3BucketName": "trail-logs"}
    assert create["responseElements"]["trailARN"] == f"arn:aws:cloudtrail:us-east-2:{MGMT}:trail/audited"
    assert describe["readOnly"] is True and describe["responseElements"] is None
    assert failed["errorCode"] == "TrailAlreadyExistsException"
    assert failed["errorMessage"] and failed["responseElements"] is None
    assert stop["requestParameters"] == {"name": "audited"}
    assert len({e["eventID"] for e in events}) == 4


def test_audit_journal_survives_restart(cairn):
    cairn.client().describe_trails()
    cairn.restart()
    cairn.client().list_trails()
    assert [e["eventName"] for e in cairn.events()] == ["DescribeTrails", "ListTrails"]


def run_serve(args, env_extra=None):
    env = dict(os.environ, CAIRN_LOG="error")
    env.update(env_extra or {})
    return subprocess.run([CAIRN, "serve", *args], capture_output=True, text=True, timeout=30, env=env)


def one_error_line(out):
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert out.returncode != 0
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_bad_config_exits_with_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('acount_id = "123456789012"\n')
    line = one_error_line(run_serve(["--config", str(cfg), "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"]))
    assert "acount_id" in line
    cfg.write_text('account_id = "1234"\n')
    line = one_error_line(run_serve(["--config", str(cfg), "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"]))
    assert "12 digits" in line
    line = one_error_line(run_serve(["--config", str(tmp_path / "missing.toml"), "--listen", "127.0.0.1:0"]))
    assert "missing.toml" in line


def test_busy_port_exits_with_one_line(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        line = one_error_line(run_serve(["--data-dir", str(tmp_path / "d"), "--listen", f"127.0.0.1:{port}"]))
        assert f"127.0.0.1:{port}" in line
    finally:
        s.close()


def test_data_dir_that_is_a_file_exits_with_one_line(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    line = one_error_line(run_serve(["--data-dir", str(f), "--listen", "127.0.0.1:0"]))
    assert str(f) in line


def test_generated_root_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_ROOT_")}
    proc = subprocess.Popen([CAIRN, "serve", "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on ")
        creds = tmp_path / "d" / "root-credentials"
        assert creds.exists()
        assert oct(creds.stat().st_mode & 0o777) == "0o600"
        assert oct((tmp_path / "d" / "master.key").stat().st_mode & 0o777) == "0o600"
        text = creds.read_text()
        assert "export AWS_ACCESS_KEY_ID=AKIA" in text
        secret = text.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        # the secret is not stored in plain text in the catalog
        for p in (tmp_path / "d").rglob("catalog.sqlite*"):
            assert secret.encode() not in p.read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    stderr = proc.stderr.read()
    assert "export AWS_ACCESS_KEY_ID=" in stderr
    assert proc.returncode == 0, stderr


def test_graceful_shutdown_on_sigint_and_sigterm(tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM):
        c = Cairn(tmp_path / f"d{sig}")
        c.start()
        c.client().describe_trails()
        assert c.stop(sig) == 0
