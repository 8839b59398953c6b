use super::*;

fn reading(format: SourceFormat) -> Reading<'static> {
    Reading { format, database: None, table: None, ignore_errors: false, schema_include: false }
}

fn run(reading: Reading<'_>, events: &[&str]) -> Result<(Shape, Changes), String> {
    infer(reading, events.iter().map(|e| e.as_bytes()), &InferConfig::default()).map_err(|e| e.to_string())
}

fn field<'s>(shape: &'s Shape, name: &str) -> &'s Shape {
    &shape.object.as_ref().unwrap().fields[name]
}

const CANAL_INSERT: &str = r#"{"data":[{"id":"1","price":"12","paid":"1","at":"2024-05-01 10:00:00.250"}],"database":"shop","table":"orders","type":"INSERT","isDdl":false,"pkNames":["id"],"mysqlType":{"id":"bigint(20)","price":"decimal(10,2)","paid":"tinyint(1)","at":"datetime(3)"},"old":null}"#;

#[test]
fn canal_declared_types_beat_the_values() {
    let update = r#"{"data":[{"id":"1","price":"40","paid":"0","at":"2024-05-01 10:00:00.250"}],"old":[{"price":"12"}],"database":"shop","table":"orders","type":"UPDATE","pkNames":["id"],"mysqlType":{"id":"bigint(20)","price":"decimal(10,2)","paid":"tinyint(1)","at":"datetime(3)"}}"#;
    let (shape, changes) = run(reading(SourceFormat::Canal), &[CANAL_INSERT, update]).unwrap();
    let ty = |name: &str| match declared(field(&shape, name), TsStandard::Sql) {
        Declared::Type(t, _) => t,
        other => panic!("{name}: {other:?}"),
    };
    // Every sampled price is an integer, and Canal writes it as text: only the declared
    // type says DECIMAL(10, 2).
    assert_eq!(ty("price"), FlinkType::Decimal(10, 2));
    assert_eq!(ty("id"), FlinkType::BigInt);
    assert_eq!(ty("paid"), FlinkType::Int, "Flink's reader takes the text 1 for FALSE in a BOOLEAN");
    assert_eq!(ty("at"), FlinkType::Timestamp(3));
    assert_eq!(shape.object.as_ref().unwrap().keys.iter().collect::<Vec<_>>(), [&vec!["id".to_string()]]);
    assert_eq!((changes.events, changes.inserts, changes.updates, changes.deletes), (2, 1, 1, 0));
    // The old image widens the types but is not a row of its own.
    assert_eq!(field(&shape, "id").stats.present, 2);
    assert_eq!(field(&shape, "price").stats.present, 2);
}

#[test]
fn canal_filters_tables_and_skips_schema_changes_as_flink_does() {
    let other = CANAL_INSERT.replace(r#""table":"orders""#, r#""table":"users""#);
    let create =
        r#"{"data":null,"database":"shop","table":"orders","type":"CREATE","isDdl":true,"sql":"CREATE TABLE ..."}"#;
    let r = Reading { database: Some("shop"), table: Some("orders"), ..reading(SourceFormat::Canal) };
    let (_, changes) = run(r, &[CANAL_INSERT, &other, create]).unwrap();
    assert_eq!((changes.events, changes.filtered, changes.skipped), (1, 1, 1));

    let alter = r#"{"data":null,"database":"shop","table":"orders","type":"ALTER","isDdl":true}"#;
    let err = run(r, &[CANAL_INSERT, alter]).unwrap_err();
    assert!(err.starts_with("event 2: type \"ALTER\""), "{err}");
    assert!(err.contains("canal-json.ignore-parse-errors"), "{err}");
    let (_, changes) = run(Reading { ignore_errors: true, ..r }, &[CANAL_INSERT, alter]).unwrap();
    assert_eq!((changes.events, changes.skipped), (1, 1));
}

#[test]
fn a_declared_type_the_values_do_not_fit_is_not_used() {
    let zero = CANAL_INSERT.replace("2024-05-01 10:00:00.250", "0000-00-00 00:00:00");
    let (shape, _) = run(reading(SourceFormat::Canal), &[&zero]).unwrap();
    assert!(matches!(declared(field(&shape, "at"), TsStandard::Sql), Declared::Ignored(n) if n.contains("zero dates")));

    // Declarations that disagree without one holding the other fall back to the values.
    let retyped = CANAL_INSERT.replace("decimal(10,2)", "varchar(20)");
    let (shape, _) = run(reading(SourceFormat::Canal), &[CANAL_INSERT, &retyped]).unwrap();
    match declared(field(&shape, "price"), TsStandard::Sql) {
        Declared::Ignored(n) => assert!(n.contains("decimal(10,2)") && n.contains("varchar(20)"), "{n}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_column_migrated_to_a_wider_type_mid_sample_takes_the_wider_type() {
    // A MySQL migration during the sample: the later events declare the wider type.
    let before = CANAL_INSERT.replace("bigint(20)", "int(11)");
    let after = CANAL_INSERT.replace("decimal(10,2)", "decimal(12,1)");
    let (shape, _) = run(reading(SourceFormat::Canal), &[&before, &after]).unwrap();
    match declared(field(&shape, "price"), TsStandard::Sql) {
        Declared::Type(ty, n) => {
            // 11 integer digits of decimal(12,1), 2 fraction digits of decimal(10,2).
            assert_eq!(ty, FlinkType::Decimal(13, 2), "both integer parts and scales fit");
            assert!(n.contains("decimal(10,2)") && n.contains("decimal(12,1)"), "{n}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(declared(field(&shape, "id"), TsStandard::Sql), Declared::Type(FlinkType::BigInt, _)));
}

#[test]
fn mysql_types_map_to_exact_flink_types() {
    let cases = [
        ("int(11)", Some(FlinkType::Int)),
        ("int(10) unsigned", Some(FlinkType::BigInt)),
        ("bigint(20) unsigned", Some(FlinkType::Decimal(20, 0))),
        ("decimal(38,10)", Some(FlinkType::Decimal(38, 10))),
        ("decimal(65,2)", None),
        ("DECIMAL(5)", Some(FlinkType::Decimal(5, 0))),
        ("datetime", Some(FlinkType::Timestamp(0))),
        ("timestamp(6)", Some(FlinkType::Timestamp(6))),
        ("varchar(255)", Some(FlinkType::String)),
        ("blob", None),
    ];
    for (t, want) in cases {
        assert_eq!(source_type(&format!("mysql:{t}")).map(|(ty, _)| ty), want, "{t}");
    }
}

#[test]
fn debezium_reads_the_images_and_the_schema_envelope_only_when_told() {
    let plain = r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c"}"#;
    let update = r#"{"before":{"id":1,"name":"a"},"after":{"id":1,"name":"b"},"op":"u"}"#;
    let delete = r#"{"before":{"id":1,"name":"b"},"after":null,"op":"d"}"#;
    let (shape, changes) = run(reading(SourceFormat::Debezium), &[plain, update, delete]).unwrap();
    assert_eq!((changes.inserts, changes.updates, changes.deletes), (1, 1, 1));
    assert_eq!(field(&shape, "id").stats.present, 3);

    let wrapped = r#"{"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int32","field":"id"},{"type":"int64","field":"at","name":"io.debezium.time.Timestamp"}]}]},"payload":{"before":null,"after":{"id":1,"at":1714557600000},"op":"r"}}"#;
    let err = run(reading(SourceFormat::Debezium), &[wrapped]).unwrap_err();
    assert!(err.contains("debezium-json.schema-include"), "{err}");
    let r = Reading { schema_include: true, ..reading(SourceFormat::Debezium) };
    let (shape, _) = run(r, &[wrapped]).unwrap();
    assert!(matches!(declared(field(&shape, "id"), TsStandard::Sql), Declared::Type(FlinkType::Int, _)));
    // A logical type's physical type does not say how Flink reads it.
    assert_eq!(declared(field(&shape, "at"), TsStandard::Sql), Declared::None);
    assert!(run(r, &[plain]).unwrap_err().contains("no `schema` and `payload`"));
    // Flink fails on an update or delete without its old row (REPLICA IDENTITY not FULL).
    let no_before = r#"{"before":null,"after":{"id":1,"name":"b"},"op":"u"}"#;
    assert!(run(reading(SourceFormat::Debezium), &[no_before]).unwrap_err().contains("op \"u\" without `before`"));
    // Skipped when parse errors are ignored: counted once, as skipped, not as an update.
    let skipping = Reading { ignore_errors: true, ..reading(SourceFormat::Debezium) };
    let (_, changes) = run(skipping, &[plain, no_before]).unwrap();
    assert_eq!((changes.events, changes.inserts, changes.updates, changes.skipped), (1, 1, 0, 1));
}

#[test]
fn maxwell_reads_data_and_old_and_its_primary_key_columns() {
    let insert =
        r#"{"database":"shop","table":"t","type":"insert","data":{"id":1,"v":2.5},"primary_key_columns":["id"]}"#;
    let update = r#"{"database":"shop","table":"t","type":"update","data":{"id":1,"v":3},"old":{"v":2.5},"primary_key_columns":["id"]}"#;
    let (shape, changes) = run(reading(SourceFormat::Maxwell), &[insert, update]).unwrap();
    assert_eq!((changes.inserts, changes.updates), (1, 1));
    assert_eq!(field(&shape, "v").flink_type(TsStandard::Sql), FlinkType::Double);
    assert_eq!(shape.object.as_ref().unwrap().keys.len(), 1);
    let ddl = r#"{"database":"shop","table":"t","type":"table-create"}"#;
    assert!(run(reading(SourceFormat::Maxwell), &[ddl]).unwrap_err().contains("table-create"));
}
