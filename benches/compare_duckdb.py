#!/usr/bin/env python3
"""Type inference speed, side by side in one run: flinkform vs DuckDB's JSON schema
detection (read_json with sample_size=-1, i.e. every record), on the same file.

Usage: benches/compare_duckdb.py [--records 200000] [--runs 5]
Builds flinkform in release mode and installs duckdb into target/bench-venv when missing.
Both sides read the whole file from the page cache; the best of --runs is reported.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")


def best(runs, fn):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "duckdb"], check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "flinkform")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_project.py"), d,
                        "--pipelines", "1", "--records", str(a.records)], check=True)
        sample = os.path.join(d, "samples", "p0000.jsonl")
        size = os.path.getsize(sample) / 1e6
        ours = best(a.runs, lambda: subprocess.run([exe, "-C", d, "schema", "p0000"], check=True,
                                                   stdout=subprocess.DEVNULL))
        duck_code = ("import duckdb,time,sys\n"
                     "con=duckdb.connect()\n"
                     "ts=[]\n"
                     "for _ in range(%d):\n"
                     "  t=time.perf_counter()\n"
                     "  con.execute(\"DESCRIBE SELECT * FROM read_json('%s', sample_size=-1, format='newline_delimited')\").fetchall()\n"
                     "  ts.append(time.perf_counter()-t)\n"
                     "print(min(ts), duckdb.__version__)\n") % (a.runs, sample)
        out = subprocess.run([py, "-c", duck_code], check=True, capture_output=True, text=True).stdout.split()
        duck, version = float(out[0]), out[1]
    print("sample: %d records, %.1f MB" % (a.records, size))
    print("flinkform schema (whole process):    %.3f s  %6.1f MB/s" % (ours, size / ours))
    print("DuckDB %s read_json schema:      %.3f s  %6.1f MB/s" % (version, duck, size / duck))
    print("ratio DuckDB / flinkform:            %.2fx" % (duck / ours))


if __name__ == "__main__":
    main()
