#!/usr/bin/env python3
"""`flinkform plan` of many pipelines: generates N pipelines with M sample records each,
times a first plan (all creates), records nothing, and reports the best of --runs.

Usage: benches/plan_1000.py [--pipelines 1000] [--records 1000] [--runs 3]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipelines", type=int, default=1000)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "flinkform")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_project.py"), d,
                        "--pipelines", str(a.pipelines), "--records", str(a.records)], check=True)
        mb = sum(os.path.getsize(os.path.join(d, "samples", f)) for f in os.listdir(os.path.join(d, "samples"))) / 1e6
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            subprocess.run([exe, "-C", d, "plan"], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
    print("plan: %d pipelines x %d records (%.0f MB of samples), %d cores" % (a.pipelines, a.records, mb, os.cpu_count()))
    print("best %.3f s, runs %s" % (min(times), ", ".join("%.3f" % t for t in times)))


if __name__ == "__main__":
    main()
