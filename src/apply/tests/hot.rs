//! Hot updates: the running job takes new parallelism without a stop or a new job.

use super::*;

/// `orders` asking for parallelism 8 (recorded: 2).
fn wider() -> PipelineState {
    let mut p = desired();
    p.deploy.parallelism = 8;
    p
}

/// A running job with `parallelism` and the recorded Flink configuration.
fn running_with(id: &str, parallelism: u64) -> RemoteJob {
    RemoteJob { parallelism: Some(parallelism), flink_conf: desired().deploy.flink_conf, ..job(id, JobState::Running) }
}

#[tokio::test(start_paused = true)]
async fn a_hot_update_configures_then_hot_updates_the_running_job_without_a_stop() {
    use Answer::*;
    let r = run(
        Action::HotUpdate,
        Some(applied()),
        Some(wider()),
        vec![
            ("configure", Done),
            ("live_job", Live(Some(running_with("job-1", 2)))),
            (
                "hot_update",
                Hot(HotUpdate { id: "hot-1".into(), state: HotUpdateState::Running("HOT_UPDATING".into()) }),
            ),
            ("hot_update_state", HotState(HotUpdateState::Done)),
            ("job", Job(running_with("job-1", 8))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(
        r.log,
        lines(
            "write 2: orders applying hot_update/configure dep=dep-1 job=job-1 history=create@1
             call configure dep-1 parallelism 8
             call live_job dep-1
             write 3: orders applying hot_update/hot_update dep=dep-1 job=job-1 history=create@1
             call hot_update job-1
             call hot_update_state hot-1
             call job job-1
             write 4: orders running dep=dep-1 job=job-1 history=create@1,hot_update@4"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_already_runs_the_new_settings_is_not_hot_updated_again() {
    use Answer::*;
    let r = run(
        Action::HotUpdate,
        Some(applied()),
        Some(wider()),
        vec![("configure", Done), ("live_job", Live(Some(running_with("job-1", 8))))],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|l| l.starts_with("call hot_update")), "{:#?}", r.log);
    assert_eq!(r.log.last().unwrap(), "write 3: orders running dep=dep-1 job=job-1 history=create@1,hot_update@3");
}

#[tokio::test(start_paused = true)]
async fn a_lost_hot_update_answer_is_looked_up_before_sending_again() {
    use Answer::*;
    let r = run(
        Action::HotUpdate,
        Some(applied()),
        Some(wider()),
        vec![
            ("configure", Done),
            ("live_job", Live(Some(running_with("job-1", 2)))),
            ("hot_update", Fails(lost("HotUpdateJob"))),
            // The look: the first send took effect, so nothing is sent again.
            ("job", Job(running_with("job-1", 8))),
            ("job", Job(running_with("job-1", 8))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.log.iter().filter(|l| l.starts_with("call hot_update")).count(), 1, "{:#?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_hot_update_of_a_job_that_is_not_running_restarts_nothing() {
    use Answer::*;
    let r = run(Action::HotUpdate, Some(applied()), Some(wider()), vec![("configure", Done), ("live_job", Live(None))])
        .await;
    let (_, why) = &r.outcome.failed[0];
    assert!(why.starts_with("the hot update was not done: its job is not RUNNING on VVP"), "{why}");
    assert!(!r.log.iter().any(|l| l.starts_with("call start") || l.starts_with("call stop")), "{:#?}", r.log);
    let last = r.log.last().unwrap();
    assert!(last.starts_with("write 3: orders failed dep=dep-1 job=job-1 history=create@1 error="), "{last}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_hot_update_keeps_the_job_running_and_records_why() {
    use Answer::*;
    let failed = HotUpdateState::Failed("RescaleFailed: not enough slots".into());
    let r = run(
        Action::HotUpdate,
        Some(applied()),
        Some(wider()),
        vec![
            ("configure", Done),
            ("live_job", Live(Some(running_with("job-1", 2)))),
            ("hot_update", Hot(HotUpdate { id: "hot-1".into(), state: failed })),
        ],
    )
    .await;
    let (_, why) = &r.outcome.failed[0];
    assert!(why.contains("VVP's hot update hot-1 failed: RescaleFailed: not enough slots"), "{why}");
    let last = r.log.last().unwrap();
    assert!(last.starts_with("write 4: orders running dep=dep-1 job=job-1 history=create@1 error="), "{last}");
    assert_eq!(r.state.unwrap().pipelines["orders"].deploy.parallelism, 2, "the recorded revision is kept");
}
