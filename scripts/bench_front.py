#!/usr/bin/env python3
"""Memory of the HTTP front under stalled and oversized requests, for one or more `cairn`
binaries in the same run (issue 14: bounded memory under slow-loris and oversized-body load).

For each binary: start `cairn serve` on 127.0.0.1:0 with a fresh data directory, read its RSS,
then open N connections of one kind and hold them, read the RSS again, close them, and go on
with the next kind. Kinds:

  headers   a request line and half of its headers, then nothing (slow-loris)
  unauth    full headers announcing a 64 MiB body with no Authorization, then 1 MiB of it
  badkey    the same, signed-looking but with an access key the server does not know
  signed    the same, with a valid SigV4 Authorization header of the root (JSON API): the
            server may read the body, within its in-flight budget

Usage: scripts/bench_front.py --bin before=/path/to/old/cairn --bin after=target/debug/cairn
       [--conns 200] [--hold 5]
Prints one Markdown table: RSS growth per kind and binary, and what the server answered.
"""

import argparse
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT_KEY = "AKIACAIRNBENCHROOT01"
ROOT_SECRET = "cairn-bench-root-secret-0123456789abcdef"
BODY = 64 * 1024 * 1024
SENT = 1024 * 1024


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start(binary, tmp):
    data = tmp / "data"
    env = dict(os.environ, CAIRN_ROOT_ACCESS_KEY_ID=ROOT_KEY,
               CAIRN_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET, CAIRN_LOG="error")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"{binary}: server did not start: {line!r}")
    host, port = line.split()[-1].rsplit(":", 1)
    return proc, (host, int(port))


def signed_headers(addr, body_len):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    host = f"{addr[0]}:{addr[1]}"
    req = AWSRequest(method="POST", url=f"http://{host}/", data=b"",
                     headers={"Host": host, "Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"})
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "cloudtrail", "us-east-1").add_auth(req)
    h = dict(req.headers.items())
    h["Content-Length"] = str(body_len)
    return h


def head(kind, addr):
    host = f"{addr[0]}:{addr[1]}"
    if kind == "headers":
        return f"POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: x".encode(), False
    if kind == "unauth":
        h = {"Host": host, "Content-Type": "application/x-amz-json-1.1", "Content-Length": str(BODY)}
    elif kind == "badkey":
        h = signed_headers(addr, BODY)
        h["Authorization"] = h["Authorization"].replace(ROOT_KEY, "AKIANOSUCHKEY0000001")
    else:
        h = signed_headers(addr, BODY)
    text = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return text.encode(), True


def hold(kind, addr, conns, seconds):
    socks, answered, refused = [], {}, 0
    chunk = b"{" + b" " * (64 * 1024 - 1)
    for _ in range(conns):
        try:
            s = socket.create_connection(addr, timeout=2)
        except OSError:
            refused += 1
            continue
        data, body = head(kind, addr)
        try:
            s.sendall(data)
            if body:
                s.setblocking(False)
                sent = 0
                while sent < SENT:
                    try:
                        sent += s.send(chunk)
                    except BlockingIOError:
                        break
                s.setblocking(True)
        except OSError:
            pass
        socks.append(s)
    time.sleep(seconds)
    for s in socks:
        s.settimeout(0.2)
        try:
            reply = s.recv(64)
            status = reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "closed"
        except (socket.timeout, BlockingIOError):
            status = "pending"
        except OSError:
            status = "reset"
        answered[status] = answered.get(status, 0) + 1
    if refused:
        answered["connect refused"] = refused
    return socks, answered


def measure(binary, conns, seconds):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-bench-front-"))
    proc, addr = start(binary, tmp)
    rows = {}
    try:
        time.sleep(1)
        for kind in ["headers", "unauth", "badkey", "signed"]:
            base = rss_kib(proc.pid)
            socks, answered = hold(kind, addr, conns, seconds)
            peak = rss_kib(proc.pid)
            for s in socks:
                s.close()
            time.sleep(1)
            alive = proc.poll() is None
            rows[kind] = (peak - base, answered, alive)
            if not alive:
                break
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH")
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--hold", type=float, default=5.0)
    args = ap.parse_args()
    results = {}
    for spec in args.bin:
        label, _, path = spec.partition("=")
        if not path or not pathlib.Path(path).exists():
            raise SystemExit(f"error: --bin {spec!r}: expected LABEL=PATH to a cairn binary")
        print(f"measuring {label} ({path}) ...", file=sys.stderr)
        results[label] = measure(path, args.conns, args.hold)
    print(f"| connections ({args.conns}, held {args.hold:g} s) | " +
          " | ".join(f"{label}: RSS growth MiB | {label}: answers" for label in results) + " |")
    print("|---|" + "---|---|" * len(results))
    for kind in ["headers", "unauth", "badkey", "signed"]:
        cells = []
        for label, rows in results.items():
            if kind in rows:
                growth, answered, alive = rows[kind]
                ans = ", ".join(f"{k}×{v}" for k, v in sorted(answered.items()))
                cells += [f"{growth / 1024:.1f}" + ("" if alive else " (server died)"), ans]
            else:
                cells += ["—", "not run (server died)"]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
