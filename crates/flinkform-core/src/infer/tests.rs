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
    fn the_depth_cap_reads_as_the_data_cut_at_that_depth(
        records in prop::collection::vec(json_record(), 1..12),
        max_depth in 0usize..4,
    ) {
        // The oracle: every object or array deeper than the cap replaced by a plain
        // string, which is how a value kept as JSON text reads.
        fn cut(v: &Value, depth: usize, max: usize) -> Value {
            match v {
                Value::Object(_) | Value::Array(_) if depth > max => Value::String("{…}".into()),
                Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), cut(x, depth + 1, max))).collect()),
                Value::Array(a) => Value::Array(a.iter().map(|x| cut(x, depth + 1, max)).collect()),
                other => other.clone(),
            }
        }
        let cfg = InferConfig { max_depth, ..InferConfig::default() };
        let texts: Vec<String> = records.iter().map(Value::to_string).collect();
        let capped = infer(texts.iter().map(|t| t.as_bytes()), &cfg).unwrap();
        let cuts: Vec<String> = records.iter().map(|r| cut(r, 0, max_depth).to_string()).collect();
        let plain = infer(cuts.iter().map(|t| t.as_bytes()), &cfg).unwrap();
        for std in [TsStandard::Sql, TsStandard::Iso] {
            prop_assert_eq!(capped.flink_type(std).to_string(), plain.flink_type(std).to_string());
        }
    }

    #[test]
    fn inference_is_deterministic(records in prop::collection::vec(json_record(), 1..8)) {
        let (x, y) = (infer_values(&records), infer_values(&records));
        let keys = |s: &Shape| s.object.as_ref().map(|o| o.fields.keys().cloned().collect::<Vec<_>>());
        prop_assert_eq!(keys(&x), keys(&y));
        prop_assert_eq!(x.flink_type(TsStandard::Sql).to_string(), y.flink_type(TsStandard::Sql).to_string());
    }

    #[test]
    fn the_scanner_refuses_exactly_what_serde_json_refuses(text in near_json()) {
        let theirs = serde_verdict(&text);
        prop_assume!(theirs.is_some(), "a number out of range hides what serde_json makes of the rest");
        let mine = observe(&mut Shape::default(), &text).map_err(|e| match e {
            Refusal::Invalid(_) => "invalid",
            Refusal::NotText(_) => "not text",
            Refusal::NotObject => "not an object",
        });
        prop_assert_eq!(mine, theirs.unwrap(), "{}", String::from_utf8_lossy(&text));
    }
}

/// Text near JSON: valid records with a few edits, or a soup of the tokens that matter to
/// the grammar (numbers, escapes, surrogates, control characters, literals).
fn near_json() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\t",
        "\"a\"",
        "\"",
        "\\",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\n\"",
        "\"\\u00e9\"",
        "\"\\u12\"",
        "\"\\q\"",
        "\"\\/\\b\"",
        "\"x\ty\"",
        "\"\u{1}\"",
        "\"é\"",
        "1",
        "-",
        "0",
        "01",
        "-0",
        "1.",
        ".5",
        "1e",
        "1e+5",
        "-0.0E-7",
        "2.5",
        "1E05",
        "+1",
        "true",
        "tru",
        "null",
        "nul",
        "false",
        "\u{7f}",
        "\r\n",
    ];
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..12)
        .prop_map(|t| format!("{{{}", t.concat()).into_bytes());
    let edited = (
        json_record(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(TOKENS)), 1..3),
    )
        .prop_map(|(r, edits)| {
            let mut b = r.to_string().into_bytes();
            for (at, op, t) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => drop(b.remove(i)),
                    _ => b.splice(i.min(b.len())..i.min(b.len()), t.bytes()).for_each(drop),
                }
            }
            b
        });
    // Valid structure around leaves written out raw, valid or not.
    const LEAVES: &[&str] = &[
        "01",
        "-01",
        "00",
        "-",
        "-0",
        "0",
        "1.",
        ".5",
        "1.5",
        "1e",
        "1e+",
        "1e+5",
        "1E05",
        "-0.0E-7",
        "+1",
        "1-2",
        "0x1",
        "1.5.2",
        "Infinity",
        "NaN",
        "true",
        "tru",
        "null",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\\u00zz\"",
        "\"\\x\"",
        "\"a\u{1}b\"",
        "\"\u{7f}\"",
        "\"ok\"",
        "[]",
        "{}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\"}",
        "[1 2]",
    ];
    let leaf = prop::sample::select(LEAVES).prop_map(String::from);
    let tree = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(inner, 1..4).prop_map(|v| format!(
                "{{{}}}",
                v.iter().enumerate().map(|(i, x)| format!("\"k{i}\":{x}")).collect::<Vec<_>>().join(",")
            )),
        ]
    });
    let raw = tree.prop_map(|t| format!("{{\"v\": {t}}}").into_bytes());
    prop_oneof![soup, edited, raw, json_record().prop_map(|r| r.to_string().into_bytes())]
}

/// serde_json's verdict on a record, written without the scanner: not UTF-8 or not
/// Unicode text (serde_json will not decode a lone surrogate into a `String`), not JSON
/// (`IgnoredAny` refuses it), or not an object. `None` when it cannot say: a number out
/// of a double's range stops the decoding before the rest is seen.
fn serde_verdict(text: &[u8]) -> Option<Result<(), &'static str>> {
    struct Texts;
    impl<'de> serde::Deserialize<'de> for Texts {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Texts)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Texts {
        type Value = Texts;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_str<E>(self, _: &str) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_unit<E>(self) -> Result<Texts, E> {
            Ok(Texts)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Texts, A::Error> {
            while a.next_element::<Texts>()?.is_some() {}
            Ok(Texts)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Texts, A::Error> {
            while a.next_entry::<String, Texts>()?.is_some() {}
            Ok(Texts)
        }
    }
    if std::str::from_utf8(text).is_err() {
        return Some(Err("not text"));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(text).is_err() {
        return Some(Err("invalid"));
    }
    match serde_json::from_slice::<Texts>(text) {
        Err(e) if e.to_string().contains("out of range") => None,
        Err(_) => Some(Err("not text")),
        Ok(_) if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => Some(Ok(())),
        Ok(_) => Some(Err("not an object")),
    }
}

#[test]
fn any_nesting_is_read_and_checked_as_serde_json_checks_it() {
    for n in [126, 127, 128, 129, 130, 100_000] {
        let text = format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        let shape = infer([text.as_bytes()], &InferConfig { max_depth: 1000, ..InferConfig::default() });
        assert_eq!(column(&shape.unwrap(), "a").to_string().matches("ARRAY").count(), n.min(127), "{n} arrays");
        for bad in [format!("{{\"a\":{}1,{}}}", "[".repeat(n), "]".repeat(n)), format!("{{\"a\":{}1", "[".repeat(n))] {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(&bad).is_err());
            assert!(matches!(observe(&mut Shape::default(), bad.as_bytes()), Err(Refusal::Invalid(_))), "{n} arrays");
        }
    }
}
