"""Step 5 of `cargo bench -p cairn --bench validate`: the stock `aws cloudtrail validate-logs`
and `cairn validate` on the same data through a real S3 API (moto_server on loopback), in
the same run. A minimal CloudTrail stub on loopback answers the two calls the CLI makes
(DescribeTrails, ListPublicKeys) with the bench's trail and test key.

usage: bench_validate_s3.py TREE BUCKET ARN START END KEY_B64 CAIRN_BIN KEY_FILE [moto|cairn]
The last argument picks the S3 server: moto_server (default) or Cairn's own S3 endpoint
(`cairn serve` on a temporary data directory, objects encrypted at rest, SigV4 checked).
prints one JSON line: {"cli_s": .., "cairn_s": .., "cli_ok": bool, "cairn_ok": bool}
"""

import base64
import hashlib
import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3

tree, bucket, arn, start, end, key_b64, cairn_bin, key_file = sys.argv[1:9]
target = sys.argv[9] if len(sys.argv) > 9 else "moto"
root = pathlib.Path(tree) / bucket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


port = free_port()
key_id, secret = "x", "x"
if target == "cairn":
    import tempfile
    data_dir = tempfile.mkdtemp(prefix="cairn-bench-s3-")
    key_id, secret = "AKIABENCHVALIDATE001", "benchvalidatesecretkeybenchvalidatesecret"
    server = subprocess.Popen([cairn_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                              env=dict(os.environ, CAIRN_ROOT_ACCESS_KEY_ID=key_id,
                                       CAIRN_ROOT_SECRET_ACCESS_KEY=secret),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = "/healthz"
else:
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = ""
s3_url = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(s3_url + ready, timeout=1)
        break
    except Exception as e:  # noqa: BLE001
        if hasattr(e, "code"):
            break
        time.sleep(0.1)
s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                  aws_access_key_id=key_id, aws_secret_access_key=secret)
s3.create_bucket(Bucket=bucket)
for p in sorted(root.rglob("*")):
    if p.is_dir() or p.name.endswith(".metadata.json"):
        continue
    key = str(p.relative_to(root))
    meta_file = p.with_name(p.name + ".metadata.json")
    meta = {}
    if meta_file.exists():
        m = json.loads(meta_file.read_text())
        meta = m.get("Metadata", m)
    s3.put_object(Bucket=bucket, Key=key, Body=p.read_bytes(), Metadata=meta)

der = base64.b64decode(key_b64)
fingerprint = hashlib.md5(der).hexdigest()


class Stub(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if op == "DescribeTrails":
            body = {"trailList": [{"Name": arn.rsplit("/", 1)[1], "S3BucketName": bucket, "TrailARN": arn,
                                   "HomeRegion": "us-east-1", "IsOrganizationTrail": False}]}
        else:
            body = {"PublicKeyList": [{"Value": key_b64, "ValidityStartTime": 0,
                                       "ValidityEndTime": 4102444800, "Fingerprint": fingerprint}]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=stub.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
           AWS_ENDPOINT_URL_CLOUDTRAIL=f"http://127.0.0.1:{stub.server_address[1]}",
           AWS_ENDPOINT_URL_S3=s3_url, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
t = time.time()
cli = subprocess.run(["aws", "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", start,
                      "--end-time", end], env=env, capture_output=True, text=True)
cli_s = time.time() - t
t = time.time()
cairn = subprocess.run([cairn_bin, "validate", "--trail-arn", arn, "--start-time", start, "--end-time", end,
                        "--s3-bucket", bucket, "--s3-endpoint", s3_url, "--public-key", key_file,
                        "--format", "json", "-q"], env=env, capture_output=True, text=True)
cairn_s = time.time() - t
server.terminate()
server.wait()
if target == "cairn":
    import shutil
    shutil.rmtree(data_dir, ignore_errors=True)
stub.shutdown()
print(json.dumps({"cli_s": cli_s, "cairn_s": cairn_s, "cli_ok": cli.returncode == 0,
                  "cairn_ok": cairn.returncode == 0,
                  "cli_tail": cli.stdout.strip().splitlines()[-3:] + cli.stderr.strip().splitlines()[-3:],
                  "cairn_err": cairn.stderr[-500:]}))
