use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn infer_values(records: &[Value]) -> Shape {
    let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    infer(texts.iter().map(|t| t.as_bytes()), &InferConfig::default()).unwrap()
}

fn infer_texts(lines: &[&str]) -> Shape {
    infer(lines.iter().map(|t| t.as_bytes()), &InferConfig::default()).unwrap()
}

fn column(shape: &Shape, name: &str) -> FlinkType {
    let std = shape.choose_standard();
    shape.object.as_ref().unwrap().fields[name].flink_type(std)
}

/// Data-driven check: each line is a record `{"v": <value>}`; the column type of `v`.
fn check(values: &[&str], expect: &str) {
    let lines: Vec<String> = values.iter().map(|v| format!("{{\"v\":{v}}}")).collect();
    let shape = infer(lines.iter().map(|l| l.as_bytes()), &InferConfig::default()).unwrap();
    assert_eq!(column(&shape, "v").to_string(), expect, "values {values:?}");
}

#[test]
fn lattice_of_numbers() {
    check(&["1", "2"], "INT");
    check(&["1", "3000000000"], "BIGINT");
    check(&["1", "9223372036854775808"], "DECIMAL(38, 0)");
    check(&[&"9".repeat(39)], "STRING");
    check(&["1", "2.5"], "DOUBLE");
    check(&["9007199254740993", "2.5"], "STRING");
    check(&["9223372036854775808", "2.5"], "STRING");
    check(&["1e400"], "STRING");
    check(&["0.1000000000000000000001"], "STRING");
    check(&["1e3"], "DOUBLE");
}

#[test]
fn conflicts_and_nulls() {
    check(&["true", "false", "null"], "BOOLEAN");
    check(&["true", "1"], "STRING");
    check(&["1", "\"1\""], "STRING");
    check(&["{\"a\":1}", "[1]"], "STRING");
    check(&["null"], "STRING");
    check(&["{}"], "STRING");
    check(&["[]"], "ARRAY<STRING>");
    check(&["[1, null, 2]", "[3000000000]"], "ARRAY<BIGINT>");
    check(&["[1, \"x\"]"], "ARRAY<STRING>");
    check(&["{\"a\":1}", "{\"b\":\"x\"}"], "ROW<`a` INT, `b` STRING>");
    check(&["{\"\":1, \"a\":2}"], "ROW<`a` INT>");
    check(&["[{\"a\":[1.5]}]"], "ARRAY<ROW<`a` ARRAY<DOUBLE>>>");
}

#[test]
fn temporal_strings() {
    check(&["\"2024-01-01\""], "DATE");
    check(&["\"2024-01-01 10:00:00\"", "\"2024-01-01 10:00:00.5\""], "TIMESTAMP(3)");
    check(&["\"2024-01-01T10:00:00.123456\""], "TIMESTAMP(6)");
    check(&["\"2024-01-01T10:00:00Z\""], "TIMESTAMP_LTZ(3)");
    check(&["\"2024-01-01 10:00:00\"", "\"2024-01-01T10:00:00\""], "STRING");
    check(&["\"2024-01-01\"", "\"2024-01-01 10:00:00\""], "STRING");
    check(&["\"2024-01-01T10:00:00+08:00\""], "STRING");
    check(&["\"2024-01-01 10:00:00\"", "\"n/a\""], "STRING");
}

#[test]
fn one_standard_per_table_covers_most_columns() {
    let s = infer_texts(&[r#"{"a":"2024-01-01T10:00:00","b":"2024-01-01T10:00:00Z","c":"2024-01-01 10:00:00"}"#]);
    assert_eq!(s.choose_standard(), TsStandard::Iso);
    assert_eq!(column(&s, "a"), FlinkType::Timestamp(3));
    assert_eq!(column(&s, "b"), FlinkType::TimestampLtz(3));
    assert_eq!(column(&s, "c"), FlinkType::String, "the other standard stays STRING");
}

#[test]
fn maps_for_many_or_sparse_keys() {
    let wide: Value = (0..201).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>().into();
    let s = infer_values(&[json!({ "m": wide })]);
    assert_eq!(column(&s, "m").to_string(), "MAP<STRING, INT>");
    let sparse: Vec<Value> = (0..20).map(|i| json!({ "m": { format!("id{i}"): "x" } })).collect();
    let s = infer_values(&sparse);
    assert_eq!(column(&s, "m").to_string(), "MAP<STRING, STRING>");
}

#[test]
fn depth_cap_keeps_json_text() {
    let cfg = InferConfig { max_depth: 2, ..InferConfig::default() };
    let rec = br#"{"a":{"b":{"c":{"d":1}}}}"#;
    let s = infer([&rec[..]], &cfg).unwrap();
    assert_eq!(column(&s, "a").to_string(), "ROW<`b` ROW<`c` STRING>>");
}

#[test]
fn keys_of_any_shape_and_order_of_first_sight() {
    let s = infer_texts(&[r#"{"value":1,"a-b":2,"x y":3,"c`d":4,"é":5,"A":6,"a":7}"#, r#"{"new":1,"value":2}"#]);
    let keys: Vec<&str> = s.object.as_ref().unwrap().fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["value", "a-b", "x y", "c`d", "é", "A", "a", "new"]);
    assert_eq!(column(&s, "c`d").to_string(), "INT");
}

#[test]
fn escaped_strings_are_classified_decoded() {
    let s = infer_texts(&[r#"{"t":"\u0032024-01-01", "k\"ey": 1}"#]);
    assert_eq!(column(&s, "t"), FlinkType::Date);
    assert_eq!(column(&s, "k\"ey"), FlinkType::Int);
}

#[test]
fn evidence_notes() {
    let s = infer_texts(&[r#"{"price":1}"#, r#"{"price":2.5}"#, r#"{"other":1}"#]);
    let f = &s.object.as_ref().unwrap().fields["price"];
    assert_eq!(f.stats.present, 2);
    assert_eq!(f.notes(&FlinkType::Double, TsStandard::Sql), ["widened from integers: 1 fractional"]);
}

#[test]
fn keys_that_rotate_between_samples_end_as_a_map_once_merged() {
    let batch = |prefix: &str| -> Vec<String> {
        let props: Vec<String> = (0..120).map(|i| format!("\"{prefix}{i}\": {i}")).collect();
        (0..5).map(|_| format!("{{\"props\": {{{}}}}}", props.join(", "))).collect()
    };
    let cfg = InferConfig::default();
    let shape = |lines: Vec<String>| infer(lines.iter().map(|l| l.as_bytes()), &cfg).unwrap();
    let mut recorded = shape(batch("a")).without_stats();
    assert_eq!(recorded.flink_type(TsStandard::Sql).to_string().matches(" INT").count(), 120, "dense keys: a ROW");
    recorded.join(&shape(batch("b")));
    recorded.cap_maps(&cfg);
    assert_eq!(recorded.flink_type(TsStandard::Sql).to_string(), "ROW<`props` MAP<STRING, INT>>");
}

// ---- properties -------------------------------------------------------------

/// Whether `s` has the shape Flink's JSON format parses for a DATE (`yyyy-MM-dd`), or a
/// TIMESTAMP in `std` (`yyyy-MM-dd HH:mm:ss[.S{1,9}]`, with `T` for ISO-8601), with a
/// trailing `Z` for a TIMESTAMP_LTZ, and a real calendar date: written from Flink's
/// format documentation, independently of `strings::classify`.
fn flink_temporal(s: &str, kind: &str, std: TsStandard) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(u32::MAX);
    if !(digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && b.get(7) == Some(&b'-') && digits(8..10)) {
        return false;
    }
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d == 0 || d > days[(m - 1) as usize] {
        return false;
    }
    if kind == "date" {
        return b.len() == 10;
    }
    let sep = if std == TsStandard::Iso { b'T' } else { b' ' };
    if !(b.get(10) == Some(&sep) && digits(11..13) && b.get(13) == Some(&b':') && digits(14..16)) {
        return false;
    }
    if !(b.get(16) == Some(&b':') && digits(17..19)) || num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 59 {
        return false;
    }
    let rest = &s[19..];
    let rest = if kind == "ltz" {
        match rest.strip_suffix('Z') {
            Some(r) => r,
            None => return false,
        }
    } else {
        rest
    };
    match rest.strip_prefix('.') {
        None => rest.is_empty(),
        Some(f) => (1..=9).contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()),
    }
}

/// Whether Flink's JSON reader reads `v` into `t` with its value intact (the types
/// inference produces; the tests/it/flink.rs check asks Flink itself).
fn accepts(t: &FlinkType, v: &Value, std: TsStandard) -> bool {
    match (t, v) {
        (_, Value::Null) | (FlinkType::String, _) => true,
        (FlinkType::Boolean, Value::Bool(_)) => true,
        (FlinkType::Int, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        (FlinkType::BigInt, Value::Number(n)) => n.is_i64(),
        (FlinkType::Decimal(38, 0), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (FlinkType::Double, Value::Number(n)) => {
            n.as_f64().is_some_and(|f| f.is_finite() && (n.is_f64() || f.abs() <= 9007199254740992.0))
        }
        (FlinkType::Date, Value::String(s)) => flink_temporal(s, "date", std),
        (FlinkType::Timestamp(_), Value::String(s)) => flink_temporal(s, "ts", std),
        (FlinkType::TimestampLtz(_), Value::String(s)) => flink_temporal(s, "ltz", std),
        (FlinkType::Array(e), Value::Array(a)) => a.iter().all(|x| accepts(e, x, std)),
        (FlinkType::Map(e), Value::Object(o)) => o.values().all(|x| accepts(e, x, std)),
        (FlinkType::Row(fields), Value::Object(o)) => {
            fields.iter().all(|(k, ft)| o.get(k).is_none_or(|x| accepts(ft, x, std)))
        }
        _ => false,
    }
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|i| json!(i)),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[a-z ]{0,6}".prop_map(Value::String),
        prop_oneof![
            Just("2024-02-29"),
            Just("2024-01-01 10:00:00.123"),
            Just("2024-01-01T10:00:00"),
            Just("2024-01-01T10:00:00.1234Z"),
            Just("2024-01-01 10:00:00Z"),
            Just("2024-01-01T10:00:00+08:00"),
            Just("2023-02-29"),
            Just("2024-13-01 10:00:00"),
            Just("2024-01-01 24:00:00"),
            Just("2024-01-01 10:00:00.1234567891"),
            Just("2024-1-01"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[abAB_ .-]{0,3}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_record() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-dA-D]{1,2}", json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn accepts_all(shape: &Shape, records: &[Value]) -> Result<(), TestCaseError> {
    let std = shape.choose_standard();
    let t = shape.flink_type(std);
    for r in records {
        prop_assert!(accepts(&t, r, std), "{t} does not read {r}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn inferred_schema_reads_every_record(records in prop::collection::vec(json_record(), 1..12)) {
        let shape = infer_values(&records);
        accepts_all(&shape, &records)?;
    }

    #[test]
    fn merge_is_commutative_monotone_and_idempotent(
        a in prop::collection::vec(json_record(), 1..8),
        b in prop::collection::vec(json_record(), 1..8),
    ) {
        let (sa, sb) = (infer_values(&a).without_stats(), infer_values(&b).without_stats());
        let mut ab = sa.clone();
        ab.join(&sb);
        let mut ba = sb.clone();
        ba.join(&sa);
        prop_assert_eq!(&ab, &ba);
        let mut again = ab.clone();
        again.join(&sa);
        prop_assert_eq!(&again, &ab, "joining a part again changes nothing");
        let all: Vec<Value> = a.iter().chain(&b).cloned().collect();
        accepts_all(&ab, &all)?;
    }

    #[test]
    fn parallel_chunks_give_the_sequential_shape(
        records in prop::collection::vec(json_record(), 1..40),
        threads in 1usize..6,
        bad in prop::option::of(0usize..40),
    ) {
        let mut texts: Vec<String> = records.iter().map(Value::to_string).collect();
        if let Some(i) = bad.filter(|i| *i < texts.len()) {
            texts[i] = "{\"a\": tru}".into();
        }
        let refs: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let cfg = InferConfig::default();
        let one = infer(refs.iter().copied(), &cfg);
        let many = infer_chunked(&refs, &cfg, threads, 1);
        // Debug shows the fields in order, which `==` on the index maps ignores.
        prop_assert_eq!(format!("{one:?}"), format!("{many:?}"));
    }

    #[test]
    fn inference_is_deterministic(records in prop::collection::vec(json_record(), 1..8)) {
        let (x, y) = (infer_values(&records), infer_values(&records));
        let keys = |s: &Shape| s.object.as_ref().map(|o| o.fields.keys().cloned().collect::<Vec<_>>());
        prop_assert_eq!(keys(&x), keys(&y));
        prop_assert_eq!(x.flink_type(TsStandard::Sql).to_string(), y.flink_type(TsStandard::Sql).to_string());
    }

    #[test]
    fn scanner_agrees_with_serde_json_on_arbitrary_text(text in "\\{[\"a-c:,0-9.eE{}\\[\\] -]{0,30}") {
        let mut shape = Shape::default();
        let mine = observe(&mut shape, text.as_bytes(), 10).is_ok();
        let theirs = serde_json::from_str::<serde_json::Map<String, Value>>(&text).is_ok();
        if theirs { prop_assert!(mine, "scanner rejected valid {text}"); }
    }
}
