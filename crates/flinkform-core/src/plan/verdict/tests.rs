use super::{Verdict, judge};
use crate::spec::Upgrade;
use crate::state::PipelineState;

/// The fixture state's `orders` rendered by this flinkform's templates, and a copy whose
/// SQL differs.
pub(in crate::plan) fn orders() -> (PipelineState, PipelineState) {
    let state = crate::state::parse(include_str!("../../../tests/fixtures/state/v1.json"), "v1.json").unwrap();
    let mut before = state.pipelines["orders"].clone();
    // Rendered by this flinkform's built-in templates.
    let digest = |text: &str| crate::spec::digest(&[text.as_bytes()])[..12].to_string();
    before.templates = crate::render::KINDS
        .iter()
        .map(|(kind, name)| {
            let text = crate::render::BUILTIN.iter().find(|(n, _)| n == name).unwrap().1;
            (kind.to_string(), format!("{name}@{}", digest(text)))
        })
        .collect();
    let mut after = before.clone();
    after.sql.push_str("-- changed\n");
    (before, after)
}

fn verdict(before: &PipelineState, after: &PipelineState) -> Verdict {
    judge(before, after).verdict
}

#[test]
fn only_a_restore_the_table_knows_to_be_sound_is_kept() {
    let (before, after) = orders();
    assert_eq!(verdict(&before, &before), Verdict::Kept, "the same SQL");
    // A job without deduplication: its one state is the source's position.
    let mut wider = after.clone();
    wider.columns[0].ty = "BIGINT".into();
    assert_eq!(verdict(&before, &wider), Verdict::Kept);

    let mut stateless = after.clone();
    stateless.deploy.upgrade = Upgrade::Stateless;
    assert_eq!(verdict(&before, &stateless), Verdict::Lost);

    let mut major = before.clone();
    major.deploy.engine_version = "vvr-11.1-jdk11-flink-1.20".into();
    let mut old = before.clone();
    old.deploy.engine_version = "vvr-8.0.11-flink-1.17".into();
    assert_eq!(verdict(&old, &major), Verdict::Lost, "a major engine upgrade");
    let mut minor = old.clone();
    minor.deploy.engine_version = "vvr-8.0.9-flink-1.17".into();
    assert_eq!(verdict(&minor, &old), Verdict::Unknown, "a minor one");

    let mut second_sink = after.clone();
    second_sink.more_sinks = vec![crate::state::SinkState {
        sink: before.sink.clone(),
        columns: before.columns.clone(),
        primary_key: before.primary_key.clone(),
        ddl: String::new(),
    }];
    assert_eq!(verdict(&before, &second_sink), Verdict::Lost, "the graph changes shape");

    let mut brokers = after.clone();
    brokers.settings.insert("source.bootstrap_servers".into(), "\"other:9092\"".into());
    assert_eq!(verdict(&before, &brokers), Verdict::Lost, "another cluster's offsets");
    let mut latest = after.clone();
    latest.settings.insert("source.startup_mode".into(), "\"latest-offset\"".into());
    let judged = judge(&before, &latest);
    assert_eq!(judged.verdict, Verdict::Kept);
    assert!(judged.why.contains("wins over the new startup mode"), "{}", judged.why);
    let mut canal = after.clone();
    canal.settings.insert("source.format".into(), "\"canal-json\"".into());
    assert_eq!(verdict(&before, &canal), Verdict::Unknown, "a change stream's sinks may keep rows");

    let mut own = after.clone();
    own.templates.insert("insert".into(), "my_insert.sql.j2@0123456789ab".into());
    assert_eq!(verdict(&before, &own), Verdict::Unknown, "a template of the project's own");
}

#[test]
fn a_deduplications_rows_are_lost_when_its_key_or_row_changes() {
    let (mut before, mut after) = orders();
    for s in [&mut before, &mut after] {
        s.settings.insert("transform.dedupe.key".into(), "[\"order_id\"]".into());
        s.settings.insert("transform.dedupe.order_by".into(), "\"updated_ms\"".into());
    }
    assert_eq!(verdict(&before, &after), Verdict::Unknown, "the SQL changed, the row did not");
    let mut column = after.clone();
    column.columns[1].ty = "BIGINT".into();
    assert_eq!(verdict(&before, &column), Verdict::Lost, "the row kept in state changed");
    let mut lookup = after.clone();
    lookup.settings.insert("lookup.public.users.columns".into(), "[\"name\"]".into());
    assert_eq!(verdict(&before, &lookup), Verdict::Lost, "a lookup brings other columns into the row");
    let mut key = after.clone();
    key.settings.insert("transform.dedupe.key".into(), "[\"status\"]".into());
    assert_eq!(verdict(&before, &key), Verdict::Lost, "another key");
    let mut gone = after.clone();
    gone.settings.remove("transform.dedupe.key");
    gone.settings.remove("transform.dedupe.order_by");
    assert_eq!(verdict(&before, &gone), Verdict::Lost, "the deduplication removed");
}
