#!/usr/bin/env python3
"""Writes a flinkform project with N pipelines of M sample records each (deterministic).

Usage: gen_project.py DIR [--pipelines 1000] [--records 1000] [--columns 0] [--kafka BROKER --topic-prefix P]
"""
import argparse
import json
import os
import random


def record(rng, i, columns):
    rec = {
        "event_id": "e-%d" % i,
        "user": {"id": rng.randint(1, 10**6), "name": "user%d" % i, "tags": ["a", "b", "c"][: i % 4]},
        "price": round(rng.random() * 100, 2) if i % 7 else rng.randint(1, 100),
        "ts": "2024-05-01 10:%02d:%02d.%03d" % (i % 60, (i * 7) % 60, i % 1000),
        "ok": bool(i % 2),
        "items": [{"sku": "S%d" % j, "qty": j} for j in range(i % 4)],
        "note": None if i % 5 else "x" * 20,
        "big": 10**12 + i,
        "country": rng.choice(["CN", "SG", "DE", "US"]),
    }
    if i % 3 == 0:
        rec["coupon"] = {"code": "C%d" % i, "off": 5}
    for c in range(columns):
        rec["c%d" % c] = [i, "v%d" % i, i + 0.5][c % 3]
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--pipelines", type=int, default=1000)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--columns", type=int, default=0, help="extra top-level columns c0, c1, ... in every record")
    ap.add_argument("--kafka", metavar="BROKER", help="sample topics PREFIX-0000, ... on BROKER instead of files")
    ap.add_argument("--topic-prefix", default="bench")
    a = ap.parse_args()
    rng = random.Random(42)
    os.makedirs(os.path.join(a.dir, "pipelines"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "samples"), exist_ok=True)
    with open(os.path.join(a.dir, "flinkform.toml"), "w") as f:
        f.write("""version = 1
[vvp]
region = "cn-hangzhou"
workspace = "ws"
namespace = "ns"
[defaults.sink]
endpoint = "holo:80"
database = "db"
username = { secret = "holo_user" }
password = { secret = "holo_password" }
[defaults.deployment]
engine_version = "vvr-8.0.11-flink-1.17"
""")
    lines = [json.dumps(record(rng, i, a.columns)) for i in range(a.records)]
    for p in range(a.pipelines):
        name = "p%04d" % p
        if a.kafka:
            source = 'topic = "%s-%04d"\nbootstrap_servers = "%s"\nsample = { messages = %d }' % (
                a.topic_prefix, p, a.kafka, a.records)
        else:
            with open(os.path.join(a.dir, "samples", name + ".jsonl"), "w") as f:
                f.write("\n".join(lines) + "\n")
            source = 'topic = "%s"\nbootstrap_servers = "k:9092"\nsample = { file = "samples/%s.jsonl", messages = %d }' % (
                name, name, a.records)
        with open(os.path.join(a.dir, "pipelines", name + ".toml"), "w") as f:
            f.write("""[pipeline]
name = "%s"
[source]
%s
[schema]
primary_key = ["event_id"]
[sink]
table = "public.%s"
""" % (name, source, name))


if __name__ == "__main__":
    main()
