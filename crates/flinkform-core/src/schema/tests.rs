use super::*;
use crate::diag::Source;
use crate::infer::{InferConfig, infer};

const CONFIG: &str = "version = 1\n[vvp]\nregion = \"cn-hangzhou\"\nworkspace = \"w\"\nnamespace = \"n\"\n";

/// Resolves a pipeline whose `[schema]` (and extra `[sink]` keys) are given, over records.
fn resolve_with(schema: &str, sink: &str, records: &[&str]) -> (Option<Schema>, Vec<String>) {
    let (s, diags) = resolve_on("vvr-8.0.11-flink-1.17", schema, sink, records);
    (
        s,
        diags
            .iter()
            .map(|d| format!("{}{}", d.message, d.help.as_deref().map_or(String::new(), |h| format!(" ({h})"))))
            .collect(),
    )
}

fn ok(schema: &str, records: &[&str]) -> Schema {
    let (s, d) = resolve_with(schema, "", records);
    s.unwrap_or_else(|| panic!("{d:?}"))
}

fn err(schema: &str, sink: &str, records: &[&str]) -> String {
    let (s, d) = resolve_with(schema, sink, records);
    assert!(s.is_none(), "expected an error");
    d.join("\n")
}

#[test]
fn epoch_conversion_renders_a_computed_column_and_watermark() {
    let s = ok(
        "columns.ts = { type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\" }\nevent_time = { column = \"ts\", watermark_delay = \"2s\" }",
        &[r#"{"ts": 1714557600000, "ts_converted": 1}"#],
    );
    assert_eq!(s.physical[0], Physical { key: "ts".into(), ty: FlinkType::BigInt });
    assert_eq!(s.computed, [Computed { name: "ts_converted_2".into(), expr: "TO_TIMESTAMP_LTZ(`ts`, 3)".into() }]);
    assert_eq!(s.watermark, Some(("ts_converted_2".into(), 2)));
    let c = s.column("ts").unwrap();
    assert_eq!((c.sink_name.as_str(), c.expr.as_str(), &c.ty), ("ts", "`ts_converted_2`", &FlinkType::TimestampLtz(3)));
}

#[test]
fn expressions_and_declared_columns() {
    let s = ok(
        "columns.amount = { type = \"DECIMAL(18, 2)\", expr = \"CAST(`amount_text` AS DECIMAL(18, 2))\" }\n\
         columns.extra = { type = \"BIGINT\" }",
        &[r#"{"amount_text": "12.50"}"#],
    );
    assert_eq!(s.computed[0], Computed { name: "amount".into(), expr: "CAST(`amount_text` AS DECIMAL(18, 2))".into() });
    assert!(s.physical.iter().any(|p| p.key == "extra" && p.ty == FlinkType::BigInt), "{:?}", s.physical);
    assert_eq!(s.column("amount").unwrap().holo.sql, "numeric(18,2)");
}

#[test]
fn bad_conversions_and_keys_are_errors_with_help() {
    let e = err("columns.ts = { type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\" }", "", &[r#"{"ts": "2024"}"#]);
    assert!(e.contains("converted from epoch numbers, but the sample holds STRING"), "{e}");
    let e = err("event_time = { column = \"ts\" }", "", &[r#"{"ts": "2024-01-01 10:00:00.123456"}"#]);
    assert!(e.contains("event_time column `ts` is TIMESTAMP(6); a watermark needs TIMESTAMP(3)"), "{e}");
    let e = err("primary_key = [\"price\"]", "", &[r#"{"price": 1.5}"#]);
    assert!(e.contains("primary key column `price` is DOUBLE"), "{e}");
    let e = err("primary_key = [\"ide\"]", "", &[r#"{"id": 1}"#]);
    assert!(e.contains("names `ide`, which is not a column (did you mean `id`?)"), "{e}");
    let e = err("primary_key = [\"id\"]", "distribution_key = [\"x\"]", &[r#"{"id": 1, "x": 2}"#]);
    assert!(e.contains("distribution_key `x` is not part of the primary key"), "{e}");
    let e = err("columns.nope = { rename = \"n\" }", "", &[r#"{"id": 1}"#]);
    assert!(e.contains("columns.nope names a column that is not in the sample"), "{e}");
}

#[test]
fn exclude_rename_and_hologres_names() {
    let long = "k".repeat(70);
    let rec = format!(r#"{{"Id": 1, "id": 2, "debug": {{"a": 1}}, "{long}": 3, "{long}X": 4}}"#);
    let (s, warnings) =
        resolve_with("columns.debug = { exclude = true }\ncolumns.Id = { rename = \"ID_A\" }", "", &[&rec]);
    let s = s.unwrap();
    assert!(!s.physical.iter().any(|p| p.key == "debug"), "an excluded key leaves the source");
    let names: Vec<&str> = s.columns.iter().map(|c| c.sink_name.as_str()).collect();
    assert_eq!(names[..2], ["id_a", "id"]);
    assert!(names[2].len() <= 63 && names[3].len() <= 63 && names[2] != names[3], "{names:?}");
    assert!(warnings.is_empty(), "a rename avoids the fold collision: {warnings:?}");
}

#[test]
fn flattened_pin_changes_the_nested_field() {
    let s = ok("flatten = true\ncolumns.user_id = { type = \"STRING\" }", &[r#"{"user": {"id": 7, "tags": ["a"]}}"#]);
    assert_eq!(s.physical[0].ty.to_string(), "ROW<`id` STRING, `tags` ARRAY<STRING>>");
    let c = s.column("user_id").unwrap();
    assert_eq!((c.expr.as_str(), c.origin), ("`user`.`id`", Origin::Pinned));
}

#[test]
fn keys_longer_than_the_parser_takes_are_left_out_with_a_warning() {
    let (long, longer) = ("k".repeat(256), "x".repeat(257));
    let record = format!("{{\"{long}\": 1, \"{longer}\": 2, \"id\": 3}}");
    let (s, warnings) = resolve_with("", "", &[&record]);
    let names: Vec<&str> = s.as_ref().unwrap().physical.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(names, [long.as_str(), "id"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("xxxxxxxxxx\"… (257 characters), which Flink SQL cannot name"), "{warnings:?}");
}

#[test]
fn a_primary_key_the_sample_lacks_or_nulls_is_a_warning_with_the_evidence() {
    let (_, warnings) =
        resolve_with("primary_key = [\"id\"]", "", &[r#"{"id": "a"}"#, r#"{"id": null}"#, r#"{"x": 1}"#]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("primary key column `id` is missing in 1 and null in 1 of 3 sampled records")),
        "{warnings:?}"
    );
    let (_, warnings) = resolve_with("primary_key = [\"id\"]", "", &[r#"{"id": "a"}"#]);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn nanosecond_timestamps_say_the_sink_keeps_microseconds() {
    let (s, warnings) = resolve_with("", "", &[r#"{"t": "2024-01-01 10:00:00.123456789"}"#]);
    assert_eq!(s.unwrap().columns[0].ty, FlinkType::Timestamp(9));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("the Hologres column `timestamp` holds microseconds: digits past the sixth are cut")),
        "{warnings:?}"
    );
}

#[test]
fn timestamp_ltz_on_vvr_before_8_0_6_warns_of_the_time_zone_shift() {
    let record = r#"{"t": "2024-01-01 10:00:00Z"}"#;
    let (_, warnings) = resolve_with("", "", &[record]);
    assert!(!warnings.iter().any(|w| w.contains("shifted")), "VVR 8.0.11: {warnings:?}");
    let diags = resolve_on("vvr-8.0.5-flink-1.17", "", "", &[record]).1;
    assert!(
        diags.iter().any(|d| d.message.contains("shifted by the time-zone offset: use VVR 8.0.6 or later")),
        "{diags:?}"
    );
}

/// Resolves a pipeline on `engine` whose `[schema]` (and extra `[sink]` keys) are given.
fn resolve_on(engine: &str, schema: &str, sink: &str, records: &[&str]) -> (Option<Schema>, Vec<Diagnostic>) {
    let spec = format!(
        "[pipeline]\nname = \"p\"\n[source]\ntopic = \"t\"\nbootstrap_servers = \"k:1\"\n[schema]\n{schema}\n\
         [sink]\nendpoint = \"h:80\"\ndatabase = \"d\"\ntable = \"t\"\nusername = \"u\"\npassword = {{ secret = \"p\" }}\n{sink}\n\
         [deployment]\nengine_version = \"{engine}\"\n"
    );
    let (project, diags) =
        crate::spec::load(&Source::new("flinkform.toml", CONFIG), &[Source::new("p.toml", spec)], None);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &project.unwrap().pipelines[0];
    let shape = infer(records.iter().map(|r| r.as_bytes()), &InferConfig::default()).unwrap();
    resolve(p, &shape, shape.choose_standard(), crate::types::Integers::BigInt, &[])
}

#[test]
fn numbers_in_a_string_column_are_said_to_be_reprinted_by_flink_1_17s_decoder() {
    let records = [r#"{"v": 1.10, "n": 7}"#, r#"{"v": "x", "n": "y"}"#];
    let warned =
        |engine| resolve_on(engine, "", "", &records).1.iter().filter(|d| d.message.contains("re-prints them")).count();
    // Only `v` holds a fraction; integers print back as written.
    assert_eq!(warned("vvr-8.0.11-flink-1.17"), 1);
    assert_eq!(warned("vvr-11.1-jdk11-flink-1.20"), 0);
}

#[test]
fn fractions_a_double_cannot_hold_are_decimal_on_vvr_8_and_text_on_vvr_11() {
    let records = [
        r#"{"pi": 3.14159265358979323846264338327950288, "big": 9007199254740993, "wide": 1e400, "id": 1}"#,
        r#"{"pi": 2.5, "big": 0.25, "wide": 0.5, "id": 2}"#,
    ];
    let types = |engine| {
        let schema = resolve_on(engine, "", "", &records).0.unwrap();
        schema.physical.iter().map(|p| format!("{} {}", p.key, p.ty)).collect::<Vec<_>>()
    };
    // VVR 8's decoder re-prints a STRING: DECIMAL(38, the most fraction digits seen)
    // holds them exactly, where one does (1e400 needs 401 integer digits).
    assert_eq!(
        types("vvr-8.0.11-flink-1.17"),
        ["pi DECIMAL(38, 35)", "big DECIMAL(38, 2)", "wide STRING", "id BIGINT"]
    );
    // VVR 11's keeps the text of a STRING as written.
    assert_eq!(types("vvr-11.1-jdk11-flink-1.20"), ["pi STRING", "big STRING", "wide STRING", "id BIGINT"]);
}

/// Resolves `spec_tail` (sections after `[sink]`) over `records` on VVR 11.
fn resolve_tail(schema: &str, tail: &str, records: &[&str]) -> (Option<Schema>, Vec<String>) {
    let (s, d) = resolve_on("vvr-11.1-jdk11-flink-1.20", schema, tail, records);
    (
        s,
        d.iter()
            .map(|d| format!("{}{}", d.message, d.help.as_deref().map_or(String::new(), |h| format!(" ({h})"))))
            .collect(),
    )
}

#[test]
fn a_filter_names_source_columns_and_a_lookup_needs_its_types() {
    let records = [r#"{"id": 1, "status": "ok", "user_id": 7, "ts": "2024-05-01 10:00:00.000"}"#];
    let (s, d) = resolve_tail("", "[transform]\nwhere = \"stauts <> 'test' AND UPPER(status) = 'OK'\"", &records);
    assert!(s.is_none());
    assert!(
        d.iter().any(|m| m.contains("[transform] where names `stauts`") && m.contains("did you mean `status`?")),
        "{d:?}"
    );

    // An excluded column the filter reads stays in the source table.
    let (s, d) =
        resolve_tail("columns.status = { exclude = true }", "[transform]\nwhere = \"status <> 'test'\"", &records);
    let s = s.unwrap_or_else(|| panic!("{d:?}"));
    assert!(s.physical.iter().any(|p| p.key == "status") && s.column("status").is_none());

    let lookup = "[[lookup]]\ntable = \"users\"\non = { user_id = \"id\" }\ncolumns = [\"name\"]\n";
    let (s, d) = resolve_tail("", lookup, &records);
    assert!(s.is_none());
    assert!(d.iter().any(|m| m.contains("the type of public.users.id is unknown")), "{d:?}");
    let pinned = format!("{lookup}types = {{ id = \"INT\", name = \"STRING\" }}\n");
    let s = resolve_tail("", &pinned, &records).0.unwrap();
    let l = &s.stages.lookups[0];
    // The source's BIGINT is cast to the dimension's INT key.
    assert_eq!(l.on, [("CAST(s.`user_id` AS INT)".to_string(), "id".to_string())]);
    assert_eq!(s.column("name").map(|c| (c.origin, c.ty.clone())), Some((Origin::Lookup, FlinkType::String)));
    assert_eq!(s.computed.last().map(|c| c.expr.as_str()), Some("PROCTIME()"));

    // A dimension column named like one of the row's needs a prefix.
    let clash = "[[lookup]]\ntable = \"users\"\non = { user_id = \"id\" }\ncolumns = [\"status\"]\ntypes = { id = \"BIGINT\", status = \"STRING\" }\n";
    let (s, d) = resolve_tail("", clash, &records);
    assert!(s.is_none());
    assert!(
        d.iter().any(|m| m.contains("brings in `status`, which is already a column") && m.contains("prefix")),
        "{d:?}"
    );
}

#[test]
fn dedupe_by_anything_but_the_event_time_is_said_to_rank() {
    let records = [r#"{"id": 1, "n": 2, "ts": "2024-05-01 10:00:00.000"}"#];
    let by = |col: &str| {
        let (s, d) = resolve_tail(
            "event_time = { column = \"ts\", watermark_delay = \"1s\" }",
            &format!("[transform]\ndedupe = {{ key = [\"id\"], order_by = \"{col}\" }}"),
            &records,
        );
        (s.unwrap().stages.dedupe, d.iter().any(|m| m.contains("as a ranking")))
    };
    assert_eq!(by("ts"), (Some((vec!["`id`".into()], "`ts`".into())), false));
    assert_eq!(by("n"), (Some((vec!["`id`".into()], "`n`".into())), true));
}

#[test]
fn a_jdbc_sink_takes_only_names_postgresql_reads_unquoted_and_no_array() {
    let records = [r#"{"id": 1, "user": "a", "Name": "b", "tags": ["x"], "ts": "2024-05-01T10:00:00.000Z"}"#];
    let jdbc = "type = \"jdbc\"";
    let (s, d) = resolve_with("", jdbc, &records);
    assert!(s.is_none());
    let all = d.join("\n");
    // `user` is reserved; `Name` folds to `name`, which PostgreSQL reads as itself.
    assert!(all.contains("column `user` is written as `user`") && all.contains("`columns.user = { rename"), "{all}");
    assert!(!all.contains("column `Name`"), "{all}");
    assert!(all.contains("column `tags` is ARRAY<STRING>, and the JDBC connector cannot write an ARRAY"), "{all}");
    let fixed = "columns.user = { rename = \"customer\" }\ncolumns.tags = { type = \"STRING\" }";
    let (s, d) = resolve_with(fixed, jdbc, &records);
    let s = s.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(s.column("user").map(|c| c.sink_name.as_str()), Some("customer"));
    // The same names are fine for Hologres, which flinkform quotes.
    assert!(resolve_with("", "", &records).0.is_some());
}

#[test]
fn a_jdbc_sink_with_a_session_time_zone_of_its_own_is_warned_of_shifted_instants() {
    let records = [r#"{"id": 1, "ts": "2024-05-01T10:00:00.000Z"}"#];
    let zoned = "type = \"jdbc\"\n[deployment.flink_conf]\n\"table.local-time-zone\" = \"Asia/Shanghai\"";
    let warned = |sink: &str| resolve_with("", sink, &records).1.iter().any(|m| m.contains("the instants shift"));
    assert!(warned(zoned));
    assert!(!warned("type = \"jdbc\""), "the session zone is the JVM's by default");
    assert!(!warned(&zoned.replace("type = \"jdbc\"", "")), "Hologres converts TIMESTAMP_LTZ itself");
}
