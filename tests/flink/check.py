#!/usr/bin/env python3
"""The suite's own oracle: Apache Flink (PyFlink) checks what flinkform renders.

Usage: check.py CASES_DIR

CASES_DIR holds, per case, NAME.sql (a script `flinkform render` printed) and, for the
data check, NAME.jsonl (the records its source samples). In one JVM, for every case:

  planner  the script's tables are created with the Kafka source read from the
           filesystem (`format` and every option of that format, `<format>.*`, kept,
           `<format>.ignore-parse-errors` false), every lookup dimension (a table some
           statement joins `FOR SYSTEM_TIME AS OF`) as the `flinkcheck-lookup` stand-in
           (LookupStandIn.java, built with javac against this PyFlink's jars) and the
           other tables (the sinks) as `blackhole`; views are created as written. Flink's
           streaming planner must accept every statement and explain each INSERT, and
           the INSERTs between `BEGIN STATEMENT SET` and `END` as one statement set.
  data     format json: in batch mode, Flink's own JSON format reads NAME.jsonl under the
           source table's schema (`json.ignore-parse-errors` false: a record it cannot read
           fails), and every value read must equal the JSON value: no NULL for a present
           value, no rounding, truncation, re-formatting or FALSE for what was not false.
           Change-stream formats (canal-json, debezium-json, maxwell-json): NAME.jsonl
           holds change events; in streaming mode Flink's reader of the format reads them,
           and the changelog it produces must be the rows the events stand for, kind by
           kind (+I, -U, +U, -D; none for an event the format's database/table include
           options filter out, nor for Canal's CREATE) and value by value as above, a
           value written as text ("10.50", "1", as Canal writes every column) equal to
           the number or boolean Flink parsed from it.

Prints one line per case and a summary; exits 0 when every case passes, 1 otherwise,
2 when Flink cannot run (or javac cannot build the lookup stand-in). The comparison is
written from the JSON text (numbers kept as their literal text), not from flinkform's
inference.
"""
import datetime
import decimal
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile


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


# The formats whose records are change events: Flink reads each as 0..n changelog rows.
CHANGE_FORMATS = ("canal-json", "debezium-json", "maxwell-json")

LOOKUP = "flinkcheck-lookup"


def stand_in(stmt, data_path, dimensions, targets):
    """A CREATE TABLE with connectors open-source Flink ships (and the check's lookup
    stand-in): (statement, "source" | "dimension" | "sink"). A table some INSERT writes
    is a sink whatever its connector (a Kafka sink too)."""
    head, options = split_with(stmt)
    if options.get("connector") == "kafka" and table_name(stmt) not in targets:
        # The format's own options (`json.*`, `canal-json.*`, ...) are kept: they decide
        # how values and events are read (timestamp format, database/table filters).
        fmt = options.get("format", "json")
        kept = {k: v for k, v in options.items() if k == "format" or k.startswith(fmt + ".")}
        kept.update({"connector": "filesystem", "path": data_path, fmt + ".ignore-parse-errors": "false"})
        return with_options(head, kept), "source"
    if table_name(stmt) in dimensions:
        return with_options(head, {"connector": LOOKUP}), "dimension"
    return with_options(head, {"connector": "blackhole"}), "sink"


def table_name(stmt):
    m = re.match(r"CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(`(?:[^`]|``)*`)", stmt)
    return m.group(1)


VIEW = re.compile(r"CREATE\s+(TEMPORARY\s+)?VIEW\s+(`(?:[^`]|``)*`)", re.I)

LOOKUP_JOIN = re.compile(r"\bJOIN\s+(`(?:[^`]|``)*`|[A-Za-z_]\w*)\s+FOR\s+SYSTEM_TIME\s+AS\s+OF\b", re.I)


INSERT_INTO = re.compile(r"\bINSERT\s+INTO\s+(`(?:[^`]|``)*`|[A-Za-z_]\w*)", re.I)


def insert_targets(stmts):
    """The tables some INSERT writes, named as table_name names them."""
    names = (m.group(1) for s in stmts for m in INSERT_INTO.finditer(s))
    return {n if n.startswith("`") else quote(n) for n in names}


def dimensions(stmts):
    """The tables some statement looks up (`JOIN t FOR SYSTEM_TIME AS OF ...`), named as
    table_name names them."""
    names = (m.group(1) for s in stmts for m in LOOKUP_JOIN.finditer(s))
    return {n if n.startswith("`") else quote(n) for n in names}


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


def left_out(path):
    """The keys the plan warned it leaves out, from the warnings saved in `path` (one per
    line, as flinkform prints them: the key's first 60 characters quoted, and its length
    when longer): a set of (first 60 characters, length)."""
    out = set()
    if not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8"):
        m = re.search(r'the JSON key ("(?:[^"\\]|\\.)*")(?:… \((\d+) characters\))?', line)
        if m:
            prefix = json.loads(m.group(1))
            out.add((prefix, int(m.group(2)) if m.group(2) else len(prefix)))
    return out


def warned(key, leftout):
    return (key[:60], len(key)) in leftout


def same(json_value, written, leftout=frozenset()):
    """Whether Flink read `json_value` unchanged, judged from what Flink's JSON format
    wrote back of it (both parsed with their number literals kept). An object's every
    key must be written back, but for keys the plan warned it leaves out (`leftout`)."""
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
        # A ROW writes every field it names, a MAP every key it read: a key of the
        # record that neither wrote was dropped, which only a warning allows.
        return all(same(json_value.get(k), v, leftout) for k, v in written.items()) and all(
            k in written or warned(k, leftout) for k in json_value)
    if isinstance(json_value, list):
        return isinstance(written, list) and len(written) == len(json_value) and all(
            same(a, b, leftout) for a, b in zip(json_value, written))
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


def data_check(t_env, create, source, data_path, out_dir, leftout):
    """Reads the records through the source table and writes them back with Flink's
    JSON format, then compares each value written with the record's, and each key of
    the record with the columns (`leftout`: the keys the plan warned it leaves out)."""
    try:
        return compare_through(t_env, create, source, data_path, out_dir, leftout)
    finally:
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS `flinkcheck_out`")
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS %s" % source)


def compare_through(t_env, create, source, data_path, out_dir, leftout):
    t_env.execute_sql(create)
    cols = describe_physical(t_env, source)
    t_env.execute_sql("CREATE TEMPORARY TABLE `flinkcheck_out` (%s) WITH ('connector' = 'filesystem', "
                      "'path' = '%s', 'format' = 'json', 'json.encode.decimal-as-plain-number' = 'true', "
                      "'json.timestamp-format.standard' = 'ISO-8601')"
                      % (", ".join("%s %s" % (quote(c), t) for c, t in cols), out_dir.replace("'", "''")))
    select = "SELECT %s FROM %s" % (", ".join(quote(c) for c, _ in cols), source)
    t_env.execute_sql("INSERT INTO `flinkcheck_out` %s" % select).wait()
    written = written_records(out_dir)
    records = [load_record(l) for l in open(data_path, encoding="utf-8") if l.strip()]
    problems = []
    if len(written) != len(records):
        return ["Flink read %d records of %d" % (len(written), len(records))]
    # One file read and written in order (parallelism 1).
    names = {c for c, _ in cols}
    for i, (rec, out) in enumerate(zip(records, written)):
        for key in rec:
            if key not in names and not warned(key, leftout):
                problems.append("record %d: key %s is in no column, and the plan did not warn it is left out"
                                % (i + 1, json.dumps(key[:60], ensure_ascii=False)))
        for col, ty in cols:
            if not same(rec.get(col), out.get(col), leftout):
                problems.append("record %d, column %s %s: JSON %s, Flink read %s" % (
                    i + 1, col, ty, shown(rec.get(col))[:200], shown(out.get(col))[:200]))
                if len(problems) > 20:
                    return problems
    return problems


# ---- change-stream sources ------------------------------------------------------------

def canal_rows(event, options):
    """The changelog rows of a Canal flat message, as Flink 1.17 and 1.20's
    CanalJsonDeserializationSchema reads them: filtered by the include options (Java
    regexes matched whole against "database" and "table"), one row per element of
    `data`; CREATE is skipped and any other type (ALTER, QUERY, ...) is an error Flink
    reports itself."""
    for option, field in (("database.include", "database"), ("table.include", "table")):
        pattern = options.get("canal-json." + option)
        if pattern is not None and not re.fullmatch(pattern, str(event.get(field))):
            return []
    data = event.get("data") or []
    if event.get("type") == "UPDATE":
        old = event.get("old") or []
        # The old image is the fields `old[i]` names over `data[i]`. (Flink looks a field
        # up in the whole `old` array: in an event of several rows whose `old` elements
        # name different fields, Flink reads NULL where this says `data[i]`'s value.)
        rows = []
        for i, after in enumerate(data):
            before = dict(after, **(old[i] if i < len(old) and isinstance(old[i], dict) else {}))
            rows += [("-U", before, part(data, i)), ("+U", after, part(data, i))]
        return rows
    kind = {"INSERT": "+I", "DELETE": "-D"}.get(event.get("type"))
    return [(kind, d, part(data, i)) for i, d in enumerate(data)] if kind else []


def part(data, i):
    """Which row of a Canal event's `data` a row is, when it holds more than one."""
    return " data[%d]" % i if len(data) > 1 else ""


def debezium_rows(event, options):
    """Debezium: c and r insert `after`, u updates `before` to `after`, d deletes
    `before`; with schema-include the event is the envelope's `payload`."""
    if options.get("debezium-json.schema-include", "false").lower() == "true":
        event = event.get("payload") or {}
    before, after = event.get("before") or {}, event.get("after") or {}
    return {"c": [("+I", after, "")], "r": [("+I", after, "")], "u": [("-U", before, ""), ("+U", after, "")],
            "d": [("-D", before, "")]}.get(event.get("op"), [])


def maxwell_rows(event, options):
    """Maxwell: insert and delete name `data`; update's old image is the fields `old`
    names (a null included) over `data`."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    kind = event.get("type")
    if kind == "update":
        old = event.get("old") if isinstance(event.get("old"), dict) else {}
        return [("-U", dict(data, **old), ""), ("+U", data, "")]
    return {"insert": [("+I", data, "")], "delete": [("-D", data, "")]}.get(kind, [])


EVENT_ROWS = {"canal-json": canal_rows, "debezium-json": debezium_rows, "maxwell-json": maxwell_rows}


def changelog(fmt, options, events):
    """The rows the events stand for, judged from their JSON: (label, kind, values), the
    label naming the event (its line among the JSON objects) and the row's kind."""
    out = []
    for n, event in enumerate(events, 1):
        for kind, values, where in EVENT_ROWS[fmt](event, options):
            out.append(("%d %s%s" % (n, kind, where), kind, values))
    return out


def truth(v):
    """The boolean a change event's value says: true/false, or MySQL's TINYINT(1) 1/0 as
    a number or as text (Canal); None when it says neither."""
    t = v.text if isinstance(v, Num) else v.strip().lower() if isinstance(v, str) else None
    return {"true": True, "1": True, "false": False, "0": False}.get(t)


def same_change(json_value, written):
    """`same`, where a value the event writes as text (Canal writes every column as a
    string, Debezium may write decimals as strings) equals the number Flink parsed from
    it by value, and a boolean Flink read must be what the value says (Flink reads the
    text "1" as FALSE: not equal)."""
    if isinstance(written, bool) and json_value is not None and not isinstance(json_value, bool):
        return truth(json_value) is written
    if isinstance(json_value, str) and isinstance(written, Num):
        try:
            return decimal.Decimal(json_value) == decimal.Decimal(written.text)
        except decimal.InvalidOperation:
            return False
    return same(json_value, written)


def change_check(t_env, create, source, fmt, data_path, out_dir):
    """Reads the events through the source table in streaming mode: its changelog's
    values written with Flink's JSON writer (a debezium-json file), its row kinds
    collected, both compared with the rows the events stand for."""
    try:
        return compare_changes(t_env, create, source, fmt, data_path, out_dir)
    finally:
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS `flinkcheck_out`")
        t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS %s" % source)


def changelog_read(t_env, source, cols, out_dir):
    """What Flink read: [(row kind, {column: value as written})], in file order
    (parallelism 1). A filesystem sink takes a changelog in debezium-json, which writes
    +I and +U alike (op c, `after`), -U and -D alike (op d, `before`): the kinds come
    from a second read, collected."""
    t_env.execute_sql("CREATE TEMPORARY TABLE `flinkcheck_out` (%s) WITH ('connector' = 'filesystem', "
                      "'path' = '%s', 'format' = 'debezium-json', "
                      "'debezium-json.encode.decimal-as-plain-number' = 'true', "
                      "'debezium-json.timestamp-format.standard' = 'ISO-8601')"
                      % (", ".join("%s %s" % (quote(c), t) for c, t in cols), out_dir.replace("'", "''")))
    select = "SELECT %s FROM %s" % (", ".join(quote(c) for c, _ in cols), source)
    t_env.execute_sql("INSERT INTO `flinkcheck_out` %s" % select).wait()
    written = [(w["op"], w["after"] if w["op"] == "c" else w["before"]) for w in written_records(out_dir)]
    # A constant: the kinds alone (PyFlink's conversion of values is not exact, e.g. it
    # cuts TIMESTAMP(9) to milliseconds).
    with t_env.sql_query("SELECT 1 FROM %s" % source).execute().collect() as rows:
        kinds = [str(r.get_row_kind()) for r in rows]
    if [op for op, _ in written] != ["c" if k in ("+I", "+U") else "d" for k in kinds]:
        raise RuntimeError("Flink's two reads of the events differ: %s and %s" % (
            " ".join(op for op, _ in written)[:200], " ".join(kinds)[:200]))
    return [(k, row) for k, (_, row) in zip(kinds, written)]


def compare_changes(t_env, create, source, fmt, data_path, out_dir):
    t_env.execute_sql(create)
    cols = describe_physical(t_env, source)
    read = changelog_read(t_env, source, cols, out_dir)
    events = [load_record(l) for l in open(data_path, encoding="utf-8") if l.strip()]
    expected = changelog(fmt, split_with(create)[1], events)
    if len(read) != len(expected):
        return ["Flink read %d rows of %d expected (%s; the events say %s)" % (
            len(read), len(expected), " ".join(k for k, _ in read)[:200], " ".join(k for _, k, _ in expected)[:200])]
    problems = []
    for (label, kind, values), (read_kind, row) in zip(expected, read):
        if read_kind != kind:
            problems.append("record %s: Flink read a %s row" % (label, read_kind))
            continue
        for col, ty in cols:
            if not same_change(values.get(col), row.get(col)):
                problems.append("record %s, column %s %s: JSON %s, Flink read %s" % (
                    label, col, ty, shown(values.get(col))[:200], shown(row.get(col))[:200]))
        if len(problems) > 20:
            break
    return problems


def written_records(out_dir):
    """The records a filesystem sink wrote under `out_dir` (hidden files are in progress)."""
    written = []
    for root, _, files in sorted(os.walk(out_dir)):
        for f in sorted(files):
            if not f.startswith("."):
                written += [load_record(l) for l in open(os.path.join(root, f), encoding="utf-8") if l.strip()]
    return written


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


class CannotRun(Exception):
    """The check cannot run here (exit 2), as opposed to a case failing."""


def lookup_jar(out_dir):
    """LookupStandIn.java compiled against this PyFlink's own jars (their API is what the
    planner loads it with), jarred with its service entry in `out_dir`."""
    import pyflink
    lib = os.path.join(os.path.dirname(pyflink.__file__), "lib")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "LookupStandIn.java")
    classes = os.path.join(out_dir, "lookup-classes")
    javac = os.path.join(os.environ["JAVA_HOME"], "bin", "javac") if os.environ.get("JAVA_HOME") else "javac"
    cmd = [javac, "--release", "11", "-nowarn", "-cp", os.pathsep.join(sorted(glob.glob(os.path.join(lib, "*.jar")))),
           "-d", classes, src]
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    except OSError as e:
        raise CannotRun("cannot run javac: %s" % e)
    if done.returncode != 0:
        raise CannotRun("javac failed on %s:\n%s" % (src, done.stdout))
    jar = os.path.join(out_dir, LOOKUP + ".jar")
    with zipfile.ZipFile(jar, "w") as z:
        for root, _, files in os.walk(classes):
            for f in files:
                z.write(os.path.join(root, f), os.path.relpath(os.path.join(root, f), classes))
        z.writestr("META-INF/services/org.apache.flink.table.factories.Factory", "flinkcheck.LookupStandIn\n")
    return jar


def explain_set(t_env, inserts):
    """The planner must take a statement set's INSERTs as one job. (It explains an empty
    set, but such a job has nothing to run: VVP cannot start it.)"""
    if not inserts:
        return ["an empty statement set"]
    statement_set = t_env.create_statement_set()
    for insert in inserts:
        statement_set.add_insert_sql(insert)
    statement_set.explain()
    return []


def plan(t_env, stmts, data_path, problems, created):
    """Runs the script on the streaming planner: tables as their stand-ins, views as
    written, each INSERT explained, a statement set's INSERTs explained together.
    Appends to `problems` and `created` (what to drop); returns the source's
    (CREATE, name, format), or None."""
    dims, targets, source, statement_set = dimensions(stmts), insert_targets(stmts), None, None
    for stmt in stmts:
        words = " ".join(stmt.split()).upper()
        if statement_set is not None:
            if words == "END":
                problems += explain_set(t_env, statement_set)
                statement_set = None
            elif words.startswith("INSERT"):
                statement_set.append(stmt)
            else:
                problems.append("unexpected statement in a statement set: %s" % stmt[:80])
        elif words == "BEGIN STATEMENT SET":
            statement_set = []
        elif view := VIEW.match(stmt):
            t_env.execute_sql(stmt)
            created.append("DROP %sVIEW IF EXISTS %s" % ("TEMPORARY " if view.group(1) else "", view.group(2)))
        elif words.startswith("CREATE"):
            create, role = stand_in(stmt, data_path, dims, targets)
            t_env.execute_sql(create)
            created.append("DROP TEMPORARY TABLE IF EXISTS %s" % table_name(stmt))
            if role == "source":
                source = (create, table_name(stmt), split_with(create)[1].get("format"))
        elif words.startswith("INSERT"):
            t_env.explain_sql(stmt)
        elif words == "END":
            problems.append("END without BEGIN STATEMENT SET")
        else:
            problems.append("unexpected statement: %s" % stmt[:80])
    if statement_set is not None:
        problems.append("BEGIN STATEMENT SET without END")
    return source


def check_case(envs, cases_dir, name, empty):
    """A case's problems and the number of records Flink read for it."""
    stream, batch, changes = envs
    sql = open(os.path.join(cases_dir, name + ".sql"), encoding="utf-8").read()
    data = os.path.join(cases_dir, name + ".jsonl")
    has_data = os.path.exists(data)
    if has_data:
        data = json_objects(data, os.path.join(cases_dir, ".out", name + ".objects.jsonl"))
    problems, created, records = [], [], 0
    try:
        source = plan(stream, statements(sql), data if has_data else empty, problems, created)
        if has_data and source:
            create, table, fmt = source
            out_dir = os.path.join(cases_dir, ".out", name)
            if fmt in CHANGE_FORMATS:
                problems += change_check(changes, create, table, fmt, data, out_dir)
            else:
                leftout = left_out(os.path.join(cases_dir, name + ".leftout"))
                problems += data_check(batch, create, table, data, out_dir, leftout)
            records = sum(1 for l in open(data, encoding="utf-8") if l.strip())
    except Exception as e:
        problems.append(condensed(e))
    # Views first: they name the tables.
    for drop in sorted(reversed(created), key=lambda d: " VIEW " not in d):
        stream.execute_sql(drop)
    return problems, records


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
    # Change-stream sources produce updates, which only streaming mode reads.
    changes = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    for env in (stream, batch, changes):
        env.get_config().set("table.local-time-zone", "UTC")
        env.get_config().set("parallelism.default", "1")
    empty = os.path.join(cases_dir, ".empty.jsonl")
    open(empty, "w").close()
    shutil.rmtree(os.path.join(cases_dir, ".out"), ignore_errors=True)
    os.makedirs(os.path.join(cases_dir, ".out"))
    names = sorted(f[:-4] for f in os.listdir(cases_dir) if f.endswith(".sql"))
    # The lookup stand-in is built only when a script looks a table up, so that the
    # other cases need no javac.
    if any(dimensions(statements(open(os.path.join(cases_dir, n + ".sql"), encoding="utf-8").read())) for n in names):
        try:
            jar = lookup_jar(os.path.join(cases_dir, ".out"))
        except CannotRun as e:
            print("cannot build the lookup stand-in: %s" % e)
            return 2
        # ADD JAR puts it on the class loader the planner finds factories with; the
        # `pipeline.jars` option does not (it reaches only PyFlink's context class loader).
        stream.execute_sql("ADD JAR '%s'" % pathlib.Path(jar).absolute().as_uri().replace("'", "''"))
    failed = checked = records = 0
    for name in names:
        problems, read = check_case((stream, batch, changes), cases_dir, name, empty)
        records += read
        checked += 1
        if problems:
            failed += 1
            print("FAIL %s" % name)
            for p in problems:
                print("  %s" % p)
        else:
            has_data = os.path.exists(os.path.join(cases_dir, name + ".jsonl"))
            print("ok %s%s" % (name, " (planner and data)" if has_data else " (planner)"))
    print("%d cases, %d failed, %d records read by Flink" % (checked, failed, records))
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
