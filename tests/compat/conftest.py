"""Fixtures that run a real `cairn serve` on 127.0.0.1 (port 0) and drive it with the stock
AWS CLI and boto3. Every test gets a fresh data directory."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import urllib.error
import sys
import tempfile
import time

import boto3
import botocore.config
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAIRN = os.environ.get("CAIRN_BIN") or str(ROOT / "target" / "debug" / "cairn")

MGMT = "111111111111"
MEMBER = "222222222222"
ROOT_KEY = "AKIACAIRNTESTROOT001"
ROOT_SECRET = "cairn-test-root-secret-0123456789abcdef"

CONFIG = f"""
version = 1
account_id = "{MGMT}"
home_region = "us-east-1"
regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-southeast-2"]

[organization]
id = "o-cairntest01"
member_accounts = ["{MEMBER}"]
"""


class Cairn:
    """A running server and the ways to talk to it."""

    def __init__(self, data_dir: pathlib.Path, config: str = CONFIG):
        self.data_dir = data_dir
        self.config_path = data_dir.parent / "cairn.toml"
        self.config_path.write_text(config)
        self.proc = None
        self.endpoint = None
        self.member_creds = None

    # -- process ---------------------------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        env.update(
            CAIRN_ROOT_ACCESS_KEY_ID=ROOT_KEY,
            CAIRN_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
            CAIRN_LOG="warn",
        )
        return env

    def cli(self, *args, check=True):
        out = subprocess.run(
            [CAIRN, *args, "--data-dir", str(self.data_dir), "--config", str(self.config_path)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"cairn {args} failed: {out.stderr}")
        return out

    def start(self, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen(
            [CAIRN, "serve", "--listen", listen, "--data-dir", str(self.data_dir),
             "--config", str(self.config_path)],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise AssertionError(f"server did not start: {line!r} {self.proc.stderr.read()}")
        self.endpoint = "http://" + line.split()[-1]
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def restart(self):
        self.stop()
        return self.start()

    # -- clients ---------------------------------------------------------------------------
    def member_credentials(self):
        if self.member_creds is None:
            out = self.cli("credentials", "--account", MEMBER).stdout
            kv = dict(
                line.removeprefix("export ").split("=", 1)
                for line in out.splitlines()
                if line.startswith("export ")
            )
            self.member_creds = (kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"])
        return self.member_creds

    def client(self, service="cloudtrail", region="us-east-1", creds=None):
        key, secret = creds or (ROOT_KEY, ROOT_SECRET)
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def aws(self, *args, region="us-east-1", check=True):
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ROOT_KEY,
            AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
            AWS_DEFAULT_REGION=region,
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_MAX_ATTEMPTS="1",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        env.pop("AWS_PROFILE", None)
        out = subprocess.run(
            ["aws", "--output", "json", *args], env=env, capture_output=True, text=True, timeout=120
        )
        if check and out.returncode != 0:
            raise AssertionError(f"aws {args} failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else {}, out

    def events(self):
        out = self.cli("events", "tail").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def cairn():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-test-"))
    server = Cairn(tmp / "data")
    server.cli("bucket", "create", "trail-logs")
    server.cli("bucket", "create", "other-logs")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fast(tmp_path):
    """A server that delivers log files every second (`[delivery] interval = "1s"`)."""
    c = Cairn(tmp_path / "data", config=CONFIG + '\n[delivery]\ninterval = "1s"\n')
    c.start()
    try:
        yield c
    finally:
        c.stop()


def error_code(exc):
    return exc.response["Error"]["Code"]


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MotoS3:
    """A real S3-compatible server (moto_server) on 127.0.0.1, for the S3 storage backend."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        import urllib.request
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except Exception:
                time.sleep(0.1)
        raise AssertionError("moto_server did not start (is moto[server] installed? run ./scripts/test.sh)")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="moto", aws_secret_access_key="moto")

    def bucket_config(self, name):
        return (f'\n[buckets.{name}]\nbackend = "s3"\nendpoint_url = "{self.endpoint}"\n'
                f'access_key_id = "moto"\nsecret_access_key = "moto"\nforce_path_style = true\n')


@pytest.fixture
def moto():
    import urllib.error  # noqa: F401  (used by MotoS3.start)
    m = MotoS3().start()
    try:
        yield m
    finally:
        m.stop()
