#!/usr/bin/env python3
"""S3 event notifications (issue 16): the time from a PutObject to its event in a queue, against
a plain SendMessage to the same queue in the same run.

Starts `cairn serve` (the binary given), makes a bucket whose ObjectCreated events go to a
queue, then, one at a time, `--n` times each:
  * direct: SendMessage, then a long-polled ReceiveMessage until the message is back;
  * event:  PutObject (1 KiB), then a long-polled ReceiveMessage until its event is back.
Prints p50/p99 of both and their ratio, then a burst: `--burst` PutObjects from 8 threads and
the time until every event has been received (events/s end to end).

    python3 scripts/bench_s3_events.py /work/rel-target/release/cairn --n 300 --burst 1000
"""

import argparse
import concurrent.futures
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import boto3
import botocore.config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_startquery import ACCOUNT, KEY, SECRET, Server  # noqa: E402

BUCKET = "bench-feed"


def client(server, service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=server.endpoint,
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      max_pool_connections=16))


def setup(server):
    s3, sqs = client(server, "s3"), client(server, "sqs")
    s3.create_bucket(Bucket=BUCKET)
    url = sqs.create_queue(QueueName="bench-feed")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-feed"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    take(sqs, url, 1)  # the s3:TestEvent
    return s3, sqs, url


def take(sqs, url, n):
    """Receives (and deletes) until `n` messages came back; returns their bodies."""
    got = []
    while len(got) < n:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
        if msgs:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        got.extend(m["Body"] for m in msgs)
    return got


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--n", type=int, default=300, help="round trips of each kind")
    ap.add_argument("--burst", type=int, default=1000, help="objects in the burst")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-s3ev-"))
    server = Server(args.binary, tmp)
    server.start()
    try:
        s3, sqs, url = setup(server)
        body = b"x" * 1024
        direct, event = [], []
        for i in range(args.n):
            t0 = time.perf_counter()
            sqs.send_message(QueueUrl=url, MessageBody=f"direct {i}")
            take(sqs, url, 1)
            direct.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            s3.put_object(Bucket=BUCKET, Key=f"one/{i:06}.json", Body=body)
            [m] = take(sqs, url, 1)
            event.append(time.perf_counter() - t0)
            assert f"one/{i:06}.json" in m, m
        ms = lambda x: f"{x * 1000:.2f} ms"  # noqa: E731
        print(f"round trips: {args.n} of each, one at a time")
        print(f"  direct SendMessage -> ReceiveMessage  p50 {ms(pct(direct, 50))}  p99 {ms(pct(direct, 99))}")
        print(f"  PutObject -> event ReceiveMessage     p50 {ms(pct(event, 50))}  p99 {ms(pct(event, 99))}")
        print(f"  ratio event/direct                    p50 {pct(event, 50) / pct(direct, 50):.2f}  "
              f"p99 {pct(event, 99) / pct(direct, 99):.2f}  (mean {statistics.mean(event) / statistics.mean(direct):.2f})")
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=BUCKET, Key=f"burst/{i:06}.json", Body=body),
                          range(args.burst)))
        put_done = time.perf_counter() - t0
        bodies = take(sqs, url, args.burst)
        total = time.perf_counter() - t0
        keys = {json.loads(b)["Records"][0]["s3"]["object"]["key"] for b in bodies}
        assert len(keys) == args.burst, "every event exactly once"
        print(f"burst: {args.burst} PutObjects from 8 threads in {put_done:.2f} s; every event received "
              f"after {total:.2f} s ({args.burst / total:.0f} events/s end to end)")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
