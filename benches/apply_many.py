#!/usr/bin/env python3
"""`flinkform apply` of many pipelines against vvp-emulator with fixed step latencies:
how close the wall time comes to the platform's own latencies (deploy + start delay),
and how many state writes the journal took.

Usage: benches/apply_many.py [--pipelines 100] [--parallelism 100] [--deploy-delay 1s] [--start-delay 1s]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seconds(d):
    return float(d[:-2]) / 1000 if d.endswith("ms") else float(d.rstrip("s"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipelines", type=int, default=100)
    ap.add_argument("--parallelism", type=int, default=100)
    ap.add_argument("--deploy-delay", default="1s")
    ap.add_argument("--start-delay", default="1s")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "flinkform", "-p", "vvp-emulator"], cwd=ROOT, check=True)
    rel = os.path.join(ROOT, "target", "release")
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID="bench", ALIBABA_CLOUD_ACCESS_KEY_SECRET="bench")
    emu = subprocess.Popen([os.path.join(rel, "vvp-emulator"), "--listen", "127.0.0.1:0", "--variables",
                            "holo_user,holo_password", "--deploy-delay", a.deploy_delay, "--start-delay", a.start_delay],
                           env=env, stdout=subprocess.PIPE, text=True)
    try:
        addr = emu.stdout.readline().split()[-1]
        env.update(FLINKFORM_VVP_ENDPOINT=addr, FLINKFORM_VVP_PROTOCOL="http")
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_project.py"), d,
                            "--pipelines", str(a.pipelines), "--records", "100"], check=True)
            t = time.perf_counter()
            subprocess.run([os.path.join(rel, "flinkform"), "-C", d, "apply", "--auto-approve",
                            "--parallelism", str(a.parallelism)], env=env, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            serial = json.load(open(os.path.join(d, ".flinkform", "state.json")))["serial"]
    finally:
        emu.kill()
    floor = seconds(a.deploy_delay) + seconds(a.start_delay)
    waves = -(-a.pipelines // a.parallelism)
    print("apply: %d pipelines, parallelism %d, platform latency per pipeline %.1f s (deploy + start)"
          % (a.pipelines, a.parallelism, floor))
    print("wall %.2f s against a floor of %.1f s (%d wave(s)): %.2fx; state writes: %d"
          % (wall, floor * waves, waves, wall / (floor * waves), serial))


if __name__ == "__main__":
    main()
