"""Compares what a job wrote to a topic with the records it read, value by value, with
tests/flink/check.py's judgement (numbers by exact decimal value, timestamps as the same
instant, JSON text as the JSON it holds, a number in a STRING column as its text).

    compare.py SENT WRITTEN COLUMNS

SENT and WRITTEN are JSON lines in the same order; COLUMNS is a JSON object naming, for
each key of the records, the field the written messages hold it in. Prints one line per
difference and exits 1 when there is any."""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "flink"))
from check import load_record, same, shown  # noqa: E402


def lines(path):
    return [load_record(line) for line in open(path, encoding="utf-8") if line.strip()]


def main(sent, written, columns):
    cols = json.load(open(columns, encoding="utf-8"))
    records, out = lines(sent), lines(written)
    problems = []
    if len(records) != len(out):
        problems.append("%d records sent, %d written" % (len(records), len(out)))
    for i, (rec, msg) in enumerate(zip(records, out)):
        for key, col in cols.items():
            if not same(rec.get(key), msg.get(col)):
                problems.append("record %d, key %s (field %s): JSON %s, written %s" % (
                    i + 1, json.dumps(key, ensure_ascii=False), col, shown(rec.get(key))[:200],
                    shown(msg.get(col))[:200]))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
