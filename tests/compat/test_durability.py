"""Nothing acknowledged is lost or duplicated: kill -9 during ingest, and a storage outage."""

import json
import os
import random
import signal
import subprocess
import time
import uuid

import pytest

from conftest import CAIRN, ROOT_KEY, ROOT_SECRET, Cairn, MotoS3
from pipeline_oracle import real_records

ACCOUNT = "123837392027"
CONFIG = f"""
version = 1
account_id = "{ACCOUNT}"
regions = ["us-east-1", "us-west-2"]

[delivery]
interval = "1s"
"""


def make_batches(tmp_path, n_files, per_file):
    base = [r for src, r in real_records() if src == "invictus"]
    files = []
    for i in range(n_files):
        ids, lines = [], []
        for j in range(per_file):
            r = dict(base[(i * per_file + j) % len(base)])
            r["eventID"] = str(uuid.uuid4())
            ids.append(r["eventID"])
            lines.append(json.dumps(r))
        f = tmp_path / f"batch-{i:03}.ndjson"
        f.write_text("\n".join(lines) + "\n")
        files.append((f, ids))
    return files


def ingest(cairn, f):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=cairn.endpoint)
    return subprocess.run([CAIRN, "ingest", "-q", str(f)], env=env, capture_output=True, text=True, timeout=60)


def delivered_ids(cairn, bucket):
    from test_pipeline import read_bucket
    return [r["eventID"] for recs in read_bucket(cairn, bucket).values() for r in recs]


def wait_for(pred, timeout=40, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_dash_nine_while_ingesting_loses_nothing_and_duplicates_nothing(tmp_path):
    c = Cairn(tmp_path / "data", config=CONFIG)
    c.cli("bucket", "create", "crash-logs")
    c.start()
    ct = c.client()
    ct.create_trail(Name="crash", S3BucketName="crash-logs", IsMultiRegionTrail=True)
    ct.start_logging(Name="crash")
    files = make_batches(tmp_path, 24, 150)
    acked, sent_ids = set(), set()
    rng = random.Random(7)
    queue = list(files)
    kills = 0
    while queue:
        # ingest a few files, then kill -9 the server at a random moment during the next one
        for _ in range(rng.randint(1, 4)):
            if not queue:
                break
            f, ids = queue.pop(0)
            sent_ids.update(ids)
            if ingest(c, f).returncode == 0:
                acked.update(ids)
            else:
                queue.append((f, ids))
        if queue and kills < 5:
            f, ids = queue[0]
            sent_ids.update(ids)
            proc = subprocess.Popen([CAIRN, "ingest", "-q", str(f)], env=dict(
                os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                AWS_ENDPOINT_URL=c.endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.0, 0.3))
            c.stop(signal.SIGKILL)
            kills += 1
            if proc.wait(timeout=60) == 0:
                acked.update(ids)
                queue.pop(0)
            c.start()
    assert kills >= 3
    c.client().describe_trails()
    wait_for(lambda: set(acked) <= set(delivered_ids(c, "crash-logs")), what="every acknowledged event to be delivered")
    time.sleep(3)
    got = delivered_ids(c, "crash-logs")
    ingested = [i for i in got if i in sent_ids]
    assert len(ingested) == len(set(ingested)), "an event was delivered twice"
    assert acked <= set(ingested), f"{len(acked - set(ingested))} acknowledged events were lost"
    assert set(ingested) <= sent_ids
    c.stop()


def test_storage_outage_is_reported_then_recovered(tmp_path):
    moto = MotoS3().start()
    try:
        moto.client().create_bucket(Bucket="ext-logs")
        c = Cairn(tmp_path / "data", config=CONFIG + moto.bucket_config("ext-logs"))
        c.moto = moto
        c.start()
        ct = c.client()
        ct.create_trail(Name="external", S3BucketName="ext-logs")
        ct.start_logging(Name="external")
        (f1, ids1), (f2, ids2) = make_batches(tmp_path, 2, 50)
        assert ingest(c, f1).returncode == 0
        wait_for(lambda: set(ids1) <= set(delivered_ids(c, "ext-logs")), what="first delivery")
        # The bucket goes away: events are still acknowledged (they are in the journal) ...
        moto.stop()
        assert ingest(c, f2).returncode == 0

        def failing():
            s = ct.get_trail_status(Name="external")
            return s.get("LatestDeliveryAttemptSucceeded") == "false" and s.get("LatestDeliveryError")
        wait_for(failing, what="the status to show the delivery error")
        status = ct.get_trail_status(Name="external")
        assert status["LatestDeliveryError"] == "ServiceUnavailable"
        # ... and delivered once it is back (moto starts empty: recreate the bucket).
        moto2 = MotoS3(port=moto.port).start()
        c.moto = moto2
        moto2.client().create_bucket(Bucket="ext-logs")
        wait_for(lambda: set(ids2) <= set(delivered_ids(c, "ext-logs")), timeout=60, what="delivery after the outage")
        status = ct.get_trail_status(Name="external")
        assert status["LatestDeliveryAttemptSucceeded"] == "true"
        assert "LatestDeliveryError" not in status
        got = delivered_ids(c, "ext-logs")
        assert sorted(i for i in got if i in set(ids2)) == sorted(ids2), "each event exactly once"
        c.stop()
        moto2.stop()
    finally:
        moto.stop()


def test_trail_status_survives_a_restart(tmp_path):
    c = Cairn(tmp_path / "data", config=CONFIG)
    c.cli("bucket", "create", "status-logs")
    c.start()
    ct = c.client()
    ct.create_trail(Name="status", S3BucketName="status-logs")
    ct.start_logging(Name="status")
    [(f, ids)] = make_batches(tmp_path, 1, 10)
    assert ingest(c, f).returncode == 0
    wait_for(lambda: ct.get_trail_status(Name="status").get("LatestDeliveryTime"), what="a delivery")
    before = ct.get_trail_status(Name="status")["LatestDeliveryTime"]
    c.restart()
    after = c.client().get_trail_status(Name="status")
    assert after["LatestDeliveryTime"] >= before.replace(microsecond=0) - __import__("datetime").timedelta(seconds=1)
    assert after["IsLogging"] is True
    c.stop()
