#!/usr/bin/env python3
"""The suite's own oracle: Apache Flink (PyFlink) checks what flinkform renders.

Usage: check.py CASES_DIR

CASES_DIR holds, per case, NAME.sql (a script `flinkform render` printed) and, for the
data check, NAME.jsonl (the records its source samples). In one JVM, for every case:

  planner  the script's tables are created with the Kafka source read from the
           filesystem (`format` and every `json.*` option kept) and the sink as
           `blackhole`; Flink's streaming planner must accept every statement and explain
           the INSERT.
  data     in batch mode, Flink's own JSON format reads NAME.jsonl under the source
           table's schema (`json.ignore-parse-errors` false: a record it cannot read
           fails), and every value read must equal the JSON value: no NULL for a present
           value, no rounding, truncation, re-formatting or FALSE for what was not false.

Prints one line per case and a summary; exits 0 when every case passes, 1 otherwise,
2 when Flink cannot run. The comparison is written from the JSON text (numbers kept as
their literal text), not from flinkform's inference.
"""
import datetime
import decimal
import json
import os
import re
import shutil
import sys


class Num:
    """A JSON number as written."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def load_record(line):
    return json.loads(line, parse_int=Num, parse_float=Num, parse_constant=Num)


def statements(script):
    """Splits on `;` outside quotes, backticks and `--` comments."""
    out, cur, i, n = [], [], 0, len(script)
    quote = None
    while i < n:
        c = script[i]
        if quote:
            cur.append(c)
            if c == quote:
                if i + 1 < n and script[i + 1] == quote:
                    cur.append(script[i + 1])
                    i += 1
                else:
                    quote = None
        elif c in "'`":
            quote = c
            cur.append(c)
        elif c == "-" and script.startswith("--", i):
            j = script.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == ";":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    rest = "".join(cur).strip()
    if rest:
        out.append(rest)
    return [s for s in out if s]


OPTION = re.compile(r"\s*'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'\s*,?")


def split_with(stmt):
    """A CREATE TABLE as (its head up to `WITH (`, its options)."""
    at = stmt.rfind(") WITH (")
    head, body = stmt[: at + len(") WITH (")], stmt[at + len(") WITH (") :].rstrip()
    assert body.endswith(")"), stmt
    body = body[:-1]
    options, pos = {}, 0
    while body[pos:].strip():
        m = OPTION.match(body, pos)
        assert m, "unparsed options: %r" % body[pos:]
        options[m.group(1).replace("''", "'")] = m.group(2).replace("''", "'")
        pos = m.end()
    return head, options


def with_options(head, options):
    lines = ",\n".join("  '%s' = '%s'" % (k.replace("'", "''"), v.replace("'", "''")) for k, v in options.items())
    return "%s\n%s\n)" % (head, lines)


def stand_in(stmt, data_path):
    """A CREATE TABLE with connectors open-source Flink ships."""
    head, options = split_with(stmt)
    if options.get("connector") == "kafka":
        kept = {k: v for k, v in options.items() if k == "format" or k.startswith("json.")}
        kept.update({"connector": "filesystem", "path": data_path, "json.ignore-parse-errors": "false"})
        return with_options(head, kept), True
    return with_options(head, {"connector": "blackhole"}), False


def table_name(stmt):
    m = re.match(r"CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(`(?:[^`]|``)*`)", stmt)
    return m.group(1)


# ---- comparing what Flink read with the JSON ------------------------------------------

def same_json(a, b):
    """Structural equality of parsed JSON, numbers by exact decimal value."""
    if isinstance(a, Num) or isinstance(b, Num):
        if not (isinstance(a, Num) and isinstance(b, Num)):
            return False
        return decimal.Decimal(a.text) == decimal.Decimal(b.text)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(s):
    """(datetime as UTC when an offset is given, nanosecond fraction) of a JSON string."""
    m = TS.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, off = m.groups()
    nanos = int((frac or "").ljust(9, "0")) if frac else 0
    t = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), nanos // 1000)
    if off and off != "Z":
        sign = 1 if off[0] == "+" else -1
        hh, mm = int(off[1:3]), int(off[-2:])
        t -= sign * datetime.timedelta(hours=hh, minutes=mm)
    return t, nanos


def same_text(a, b):
    """Two JSON strings: equal, or the same instant (a timestamp re-written by Flink in
    its own format: compared to the nanosecond, offsets normalized to UTC)."""
    if a == b:
        return True
    pa, pb = parse_time(a), parse_time(b)
    return pa is not None and pb is not None and pa == pb and (len(a) == 10) == (len(b) == 10)


def same(json_value, written):
    """Whether Flink read `json_value` unchanged, judged from what Flink's JSON format
    wrote back of it (both parsed with their number literals kept)."""
    if json_value is None or written is None:
        return json_value is None and written is None
    if isinstance(written, str) and not isinstance(json_value, str):
        if isinstance(json_value, Num):
            # A number in a STRING column: its text exactly as written in the record.
            return written == json_value.text
        try:
            return same_json(json_value, load_record(written))
        except ValueError:
            return False
    if isinstance(json_value, bool) or isinstance(written, bool):
        return json_value is written
    if isinstance(json_value, Num):
        # Exact: an INT, BIGINT or DECIMAL holds the integer, a DOUBLE the same decimal value.
        return isinstance(written, Num) and decimal.Decimal(json_value.text) == decimal.Decimal(written.text)
    if isinstance(json_value, str):
        return isinstance(written, str) and same_text(json_value, written)
    if isinstance(json_value, dict):
        if not isinstance(written, dict):
            return False
        # A ROW writes the keys it names (keys it leaves out were left out with a
        # warning), a MAP every key it read.
        return all(same(json_value.get(k), v) for k, v in written.items())
    if isinstance(json_value, list):
        return isinstance(written, list) and len(written) == len(json_value) and all(
            same(a, b) for a, b in zip(json_value, written))
    return False


def shown(v):
    """A parsed JSON value as JSON text, numbers as written."""
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (json.dumps(k, ensure_ascii=False), shown(x)) for k, x in v.items())
    if isinstance(v, list):
        return "[%s]" % ", ".join(shown(x) for x in v)
    return json.dumps(v, ensure_ascii=False)


def describe_physical(t_env, name):
    rows = list(t_env.execute_sql("DESCRIBE %s" % name).collect())
    # name, type, null, key, extras, watermark: a computed or metadata column has extras.
    return [(r[0], re.sub(r"\s*\*(ROWTIME|PROCTIME)\*$", "", r[1])) for r in rows if not r[4]]


def quote(name):
    return "`%s`" % name.replace("`", "``")


def data_check(t_env, create, source, data_path, out_dir):
    """Reads the records through the source table and writes them back with Flink's
    JSON format, then compares each value written with the record's."""
    try:
        return compare_through(t_env, create, source, data_path, out_dir)
    finally:
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS `flinkcheck_out`")
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS %s" % source)


def compare_through(t_env, create, source, data_path, out_dir):
    t_env.execute_sql(create)
    cols = describe_physical(t_env, source)
    t_env.execute_sql("CREATE TEMPORARY TABLE `flinkcheck_out` (%s) WITH ('connector' = 'filesystem', "
                      "'path' = '%s', 'format' = 'json', 'json.encode.decimal-as-plain-number' = 'true', "
                      "'json.timestamp-format.standard' = 'ISO-8601')"
                      % (", ".join("%s %s" % (quote(c), t) for c, t in cols), out_dir.replace("'", "''")))
    select = "SELECT %s FROM %s" % (", ".join(quote(c) for c, _ in cols), source)
    t_env.execute_sql("INSERT INTO `flinkcheck_out` %s" % select).wait()
    written = []
    for root, _, files in sorted(os.walk(out_dir)):
        for f in sorted(files):
            if not f.startswith("."):
                written += [load_record(l) for l in open(os.path.join(root, f), encoding="utf-8") if l.strip()]
    records = [load_record(l) for l in open(data_path, encoding="utf-8") if l.strip()]
    problems = []
    if len(written) != len(records):
        return ["Flink read %d records of %d" % (len(written), len(records))]
    # One file read and written in order (parallelism 1).
    for i, (rec, out) in enumerate(zip(records, written)):
        for col, ty in cols:
            if not same(rec.get(col), out.get(col)):
                problems.append("record %d, column %s %s: JSON %s, Flink read %s" % (
                    i + 1, col, ty, shown(rec.get(col))[:200], shown(out.get(col))[:200]))
                if len(problems) > 20:
                    return problems
    return problems


def json_objects(path, to):
    """A copy of the JSON-object lines of `path` (the records flinkform samples; it
    skips others, counting them), at `to`."""
    os.makedirs(os.path.dirname(to), exist_ok=True)
    with open(path, encoding="utf-8") as src, open(to, "w", encoding="utf-8") as out:
        for line in src:
            try:
                if isinstance(json.loads(line), dict):
                    out.write(line if line.endswith("\n") else line + "\n")
            except ValueError:
                pass
    return to


def condensed(e):
    """Flink's own message of a Java exception: its root cause's line."""
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    causes = [l for l in lines if l.startswith("Caused by:")]
    if causes:
        return causes[-1][len("Caused by:"):].strip()[:2000]
    thrown = [l for l in lines if re.match(r"^[a-z]+(\.[a-zA-Z_$]+)+(Exception|Error)\b", l)]
    return (thrown[0] if thrown else (lines[0] if lines else repr(e)))[:2000]


def java_17_opens():
    """Flink 1.17 (VVR 8's engine) predates its own Java 17 flags: on a Java 17 JDK its
    serializers need the JDK's packages opened, as Flink 1.18 later did in its scripts."""
    try:
        from importlib.metadata import version
        flink = version("apache-flink")
    except Exception:
        return
    if flink.startswith("1.17."):
        opens = ["java.util", "java.lang", "java.lang.reflect", "java.io", "java.nio", "sun.nio.ch",
                 "java.net", "java.text", "java.time", "java.util.concurrent",
                 "java.util.concurrent.atomic", "java.math"]
        flags = " ".join("--add-opens=java.base/%s=ALL-UNNAMED" % p for p in opens)
        os.environ["JAVA_TOOL_OPTIONS"] = (os.environ.get("JAVA_TOOL_OPTIONS", "") + " " + flags).strip()


def main():
    cases_dir = sys.argv[1]
    java_17_opens()
    try:
        from pyflink.table import EnvironmentSettings, TableEnvironment
    except ImportError as e:
        print("cannot import pyflink: %s" % e)
        return 2
    stream = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    batch = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    for env in (stream, batch):
        env.get_config().set("table.local-time-zone", "UTC")
        env.get_config().set("parallelism.default", "1")
    empty = os.path.join(cases_dir, ".empty.jsonl")
    open(empty, "w").close()
    shutil.rmtree(os.path.join(cases_dir, ".out"), ignore_errors=True)
    os.makedirs(os.path.join(cases_dir, ".out"))
    failed = checked = records = 0
    for name in sorted(f[:-4] for f in os.listdir(cases_dir) if f.endswith(".sql")):
        sql = open(os.path.join(cases_dir, name + ".sql"), encoding="utf-8").read()
        data = os.path.join(cases_dir, name + ".jsonl")
        has_data = os.path.exists(data)
        if has_data:
            data = json_objects(data, os.path.join(cases_dir, ".out", name + ".objects.jsonl"))
        problems = []
        tables = []
        try:
            source_create = None
            for stmt in statements(sql):
                if stmt.upper().startswith("CREATE"):
                    create, is_source = stand_in(stmt, data if has_data else empty)
                    stream.execute_sql(create)
                    tables.append(table_name(stmt))
                    if is_source:
                        source_create = (create, table_name(stmt))
                elif stmt.upper().startswith("INSERT"):
                    stream.explain_sql(stmt)
                else:
                    problems.append("unexpected statement: %s" % stmt[:80])
            if has_data and source_create:
                out_dir = os.path.join(cases_dir, ".out", name)
                problems += data_check(batch, source_create[0], source_create[1], data, out_dir)
                records += sum(1 for l in open(data, encoding="utf-8") if l.strip())
        except Exception as e:
            problems.append(condensed(e))
        for t in tables:
            stream.execute_sql("DROP TEMPORARY TABLE IF EXISTS %s" % t)
        checked += 1
        if problems:
            failed += 1
            print("FAIL %s" % name)
            for p in problems:
                print("  %s" % p)
        else:
            print("ok %s%s" % (name, " (planner and data)" if has_data else " (planner)"))
    print("%d cases, %d failed, %d records read by Flink" % (checked, failed, records))
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
