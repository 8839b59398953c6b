use super::*;
use crate::infer::Shape;
use serde::Serialize;

/// A v1 state file as flinkform writes it, with every optional field set somewhere.
const V1: &str = include_str!("../../tests/fixtures/state/v1.json");

#[test]
fn the_v1_fixture_loads_and_saves_byte_identically() {
    let state = parse(V1, "v1.json").expect("the v1 fixture loads");
    let orders = &state.pipelines["orders"];
    assert_eq!(orders.pending.as_ref().map(|p| p.step), Some(Step::Deploy));
    assert_eq!(orders.deploy.jobmanager, Some((1.0, "4Gi".to_string())));
    assert_eq!(state.pipelines["clickstream"].history.len(), 1);
    assert!(state.pipelines["clickstream"].error.is_some());
    // Any change to a field's name, presence or form shows here as a text difference.
    assert_eq!(to_text(&state), V1, "the serde form of the state changed: that needs format_version 2");
}

/// `name()` is what messages show; it must be the spelling the state file holds.
#[test]
fn names_are_the_serde_spellings() {
    fn check<T: Serialize>(v: T, name: &str) {
        assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(name.into()));
    }
    use Operation as O;
    for o in [O::Create, O::Update, O::Replace, O::Delete, O::Repair, O::Start, O::Rollback] {
        check(o, o.name());
    }
    use Step as S;
    for s in [S::Lookup, S::SinkDdl, S::CreateDraft, S::Deploy, S::Configure, S::Start, S::Stop, S::Delete] {
        check(s, s.name());
    }
    use Status as T;
    for s in [T::Planned, T::Recorded, T::Imported, T::Applying, T::Running, T::Stopped, T::Failed, T::Destroyed] {
        check(s, s.name());
    }
}

/// A recorded shape is written as the shape itself would be, compact and pretty, and
/// read back to the same text, without the evidence counters.
#[test]
fn a_recorded_shape_reads_and_writes_as_the_shape_it_is() {
    let mut shape = Shape::default();
    for record in [
        r#"{"id": 1, "user": {"name": "a", "tags": ["x"]}, "price": 1.25, "ts": "2024-05-01 10:00:00", "n": null}"#,
        r#"{"id": 12345678901, "user": {"name": "b\"q", "tags": []}, "price": 3, "big": 1e400, "deep": [[{"k": true}]]}"#,
    ] {
        crate::infer::observe(&mut shape, record.as_bytes()).expect("valid JSON");
    }
    let recorded = RecordedShape::of(&shape);
    assert_eq!(serde_json::to_string(&recorded).unwrap(), serde_json::to_string(&shape).unwrap());
    let pretty = serde_json::to_string_pretty(&shape).unwrap();
    assert_eq!(serde_json::to_string_pretty(&recorded).unwrap(), pretty);
    let back: RecordedShape = serde_json::from_str(&pretty).unwrap();
    assert_eq!(back, recorded);
    assert_eq!(back.shape(), shape.without_stats());
    assert!(serde_json::from_str::<RecordedShape>(r#"{"int": "no such class"}"#).is_err());
}
