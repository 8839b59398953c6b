use std::collections::BTreeMap;

use super::alerts::Watcher;
use super::lineage::{NodeKind, graph};
use super::metrics::{ServerStats, render};
use super::{EnvSnapshot, JobView};
use crate::plan::{JobState, Live, LiveSettings};
use crate::spec::AlertOn;
use crate::state::{AppliedChange, ApplyOutcome, ApplyRecord, KafkaRecord, ReviewRef, Stamp, State, Status};

fn state() -> State {
    let mut s = crate::state::parse(include_str!("../../tests/fixtures/state/v1.json"), "v1.json").unwrap();
    for p in s.pipelines.values_mut() {
        p.status = Status::Running;
    }
    let click = s.pipelines.get_mut("clickstream").unwrap();
    click.history[0].stamp.review = Some(ReviewRef { name: "o/r#7".into(), url: None });
    s
}

fn found(job: Option<JobState>, restarts: Option<u64>, sql_matches: bool) -> Live {
    Live::Found {
        sql_matches,
        sql_digest: None,
        job,
        job_id: Some("job-1".into()),
        restarts,
        // As both recorded pipelines were applied: only what a test changes drifts.
        settings: Box::new(LiveSettings {
            flink_conf: [("execution.checkpointing.interval".to_string(), "60s".to_string())].into(),
            ..LiveSettings::default()
        }),
    }
}

fn snap(at_ms: u64, live: &[(&str, Live)], applies: Vec<ApplyRecord>) -> EnvSnapshot {
    EnvSnapshot {
        at_ms,
        state: Some(state()),
        live: Ok(live.iter().map(|(n, l)| (n.to_string(), l.clone())).collect()),
        applies,
        ..EnvSnapshot::unrefreshed("prod")
    }
}

fn failed_apply(id: &str) -> ApplyRecord {
    ApplyRecord {
        id: id.into(),
        env: Some("prod".into()),
        stamp: Stamp::at("2026-12-07T00:00:00Z"),
        duration_ms: 1500,
        outcome: ApplyOutcome::Failed,
        changes: vec![AppliedChange { pipeline: "orders".into(), action: "update".into(), error: Some("boom".into()) }],
        said: "Apply failed for 1 pipeline".into(),
        plan: String::new(),
    }
}

#[test]
fn a_failed_job_alerts_once_while_it_stays_failed_and_again_after_it_ran() {
    let mut w = Watcher::default();
    let failed = found(Some(JobState::Failed("JobFailed: x".into())), None, true);
    let running = found(Some(JobState::Running), Some(0), true);
    let a = w.observe(&snap(0, &[("clickstream", failed.clone()), ("orders", running.clone())], vec![]));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].on, a[0].pipeline.as_deref()), (AlertOn::Failed, Some("clickstream")));
    assert!(a[0].what.contains("JobFailed: x"), "{}", a[0].what);
    assert_eq!(a[0].change.as_ref().and_then(|c| c.review.as_ref()).map(|r| r.name.as_str()), Some("o/r#7"));
    assert!(w.observe(&snap(1000, &[("clickstream", failed.clone()), ("orders", running.clone())], vec![])).is_empty());
    assert!(
        w.observe(&snap(2000, &[("clickstream", running.clone()), ("orders", running.clone())], vec![])).is_empty()
    );
    let a = w.observe(&snap(3000, &[("clickstream", failed), ("orders", running)], vec![]));
    assert_eq!(a.iter().map(|a| a.on).collect::<Vec<_>>(), [AlertOn::Failed]);
}

#[test]
fn an_unreached_vvp_neither_ends_nor_raises_a_condition() {
    let mut w = Watcher::default();
    let failed = found(Some(JobState::Failed("x".into())), None, true);
    assert_eq!(w.observe(&snap(0, &[("clickstream", failed.clone())], vec![])).len(), 1);
    let mut s = snap(1000, &[], vec![]);
    s.live = Err("timeout".into());
    assert!(w.observe(&s).is_empty());
    assert!(w.observe(&snap(2000, &[("clickstream", failed)], vec![])).is_empty(), "still the same failure");
}

#[test]
fn drift_restarts_and_a_job_not_running_past_its_window_each_alert() {
    let mut w = Watcher::default();
    let run = |r| found(Some(JobState::Running), Some(r), true);
    let starting = found(Some(JobState::Starting), None, true);
    assert!(w.observe(&snap(0, &[("clickstream", run(2)), ("orders", starting.clone())], vec![])).is_empty());
    // Restarts grew: one alert, also while they keep growing; settled, then growing
    // again: one more.
    let a = w.observe(&snap(1000, &[("clickstream", run(3)), ("orders", starting.clone())], vec![]));
    assert_eq!(a.iter().map(|a| a.on).collect::<Vec<_>>(), [AlertOn::Restarting]);
    assert!(w.observe(&snap(1500, &[("clickstream", run(5)), ("orders", starting.clone())], vec![])).is_empty());
    assert!(w.observe(&snap(1800, &[("clickstream", run(5)), ("orders", starting.clone())], vec![])).is_empty());
    let a = w.observe(&snap(1900, &[("clickstream", run(6)), ("orders", starting.clone())], vec![]));
    assert_eq!(a.iter().map(|a| a.on).collect::<Vec<_>>(), [AlertOn::Restarting]);
    assert!(w.observe(&snap(2000, &[("clickstream", run(6)), ("orders", starting.clone())], vec![])).is_empty());
    // Five minutes not RUNNING (no verify window recorded).
    let a = w.observe(&snap(300_000, &[("clickstream", run(6)), ("orders", starting)], vec![]));
    assert_eq!(
        a.iter().map(|a| (a.on, a.pipeline.clone().unwrap())).collect::<Vec<_>>(),
        [(AlertOn::NotRunning, "orders".to_string())]
    );
    let edited = found(Some(JobState::Running), Some(6), false);
    let a = w.observe(&snap(301_000, &[("clickstream", edited), ("orders", run(0))], vec![]));
    assert_eq!(a.iter().map(|a| a.on).collect::<Vec<_>>(), [AlertOn::Drift]);
    assert!(a[0].what.contains("its SQL differs from the recorded revision"), "{}", a[0].what);
}

#[test]
fn a_failed_apply_alerts_once_and_the_first_refresh_is_the_baseline() {
    let mut w = Watcher::default();
    let run = found(Some(JobState::Running), None, true);
    let live = [("clickstream", run.clone()), ("orders", run)];
    assert!(w.observe(&snap(0, &live, vec![failed_apply("a1")])).is_empty(), "an old apply is not replayed");
    let a = w.observe(&snap(1000, &live, vec![failed_apply("a2"), failed_apply("a1")]));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].on, a[0].pipeline.as_deref(), a[0].diagnosis.clone()),
        (AlertOn::ApplyFailed, Some("orders"), vec!["boom".to_string()])
    );
    assert!(w.observe(&snap(2000, &live, vec![failed_apply("a2"), failed_apply("a1")])).is_empty());
}

#[test]
fn health_names_the_job_and_the_change_that_last_touched_it() {
    let s = snap(0, &[("clickstream", Live::Gone)], vec![]);
    let st = s.state.as_ref().unwrap();
    let h = s.health("clickstream", &st.pipelines["clickstream"]);
    assert_eq!(h.job, JobView::Gone);
    assert_eq!(h.drift, ["the deployment is gone from VVP (deleted outside flinkform)"]);
    assert!(h.should_run);
    assert_eq!(s.health("orders", &st.pipelines["orders"]).job, JobView::NotDeployed);
}

#[test]
fn metrics_carry_every_pipeline_with_escaped_labels() {
    let mut s = snap(5000, &[("clickstream", found(Some(JobState::Running), Some(4), true))], vec![failed_apply("a")]);
    let st = s.state.as_mut().unwrap();
    let mut odd = st.pipelines["orders"].clone();
    odd.topic = "a\"b\\c\nd".into();
    st.pipelines.insert("odd".into(), odd);
    let text = render(&[&s], &ServerStats { version: "0.1.0".into(), ..ServerStats::default() }, &|_| Some(1_000));
    assert!(
        text.contains(r#"flinkform_pipeline_info{env="prod",pipeline="odd",topic="a\"b\\c\nd",status="running"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"flinkform_job_state{env="prod",pipeline="clickstream",state="running"} 1"#));
    assert!(text.contains(r#"flinkform_job_state{env="prod",pipeline="clickstream",state="failed"} 0"#));
    assert!(text.contains(r#"flinkform_job_restarts_total{env="prod",pipeline="clickstream"} 4"#));
    assert!(text.contains(r#"flinkform_pipeline_last_apply_success{env="prod",pipeline="orders"} 0"#));
    assert!(text.contains(r#"flinkform_last_apply_duration_seconds{env="prod"} 1.5"#));
    assert!(text.contains(r#"flinkform_pipelines{env="prod"} 3"#));
    for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
        let name = line.split(' ').nth(2).unwrap();
        assert_eq!(text.matches(&format!("# TYPE {name} ")).count(), 1, "{name} declared once");
    }
}

#[test]
fn lineage_joins_a_kafka_sink_to_the_pipeline_that_reads_its_topic() {
    let mut st = state();
    let mut second = st.pipelines["orders"].clone();
    second.topic = "enriched".into();
    st.pipelines.insert("enrich".into(), second);
    let orders = st.pipelines.get_mut("orders").unwrap();
    orders.sink.kafka = Some(KafkaRecord { upsert: false });
    orders.sink.table = "enriched".into();
    let g = graph(Some(&st));
    let layer: BTreeMap<String, usize> =
        g.nodes.iter().zip(g.layers()).map(|(n, l)| (format!("{:?}:{}", n.kind, n.name), l)).collect();
    assert_eq!(layer["Topic:orders"], 0);
    assert_eq!(layer["Pipeline:orders"], 1);
    assert_eq!(layer["Topic:enriched"], 2);
    assert_eq!(layer["Pipeline:enrich"], 3);
    let (orders_db, click_db) = ("Table:analytics.public.orders", "Table:analytics.events.clickstream");
    assert_eq!((layer[orders_db], layer[click_db]), (4, 2), "{layer:?}");
    let svg = g.svg(&|p| format!("/p/{p}?a=1&b=2"));
    assert_eq!(svg.matches("data-pipeline=").count(), g.nodes.iter().filter(|n| n.kind == NodeKind::Pipeline).count());
    assert!(svg.contains(r#"href="/p/enrich?a=1&amp;b=2""#), "{svg}");
}

#[test]
fn a_job_vvp_cannot_be_asked_about_is_not_taken_for_one_not_running() {
    let mut w = Watcher::default();
    let unknown = Live::Unknown("connection refused".into());
    let live = [("clickstream", unknown.clone()), ("orders", unknown)];
    assert!(w.observe(&snap(0, &live, vec![])).is_empty());
    assert!(w.observe(&snap(600_000, &live, vec![])).is_empty(), "ten minutes of an outage");
}
