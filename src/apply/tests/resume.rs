//! Resuming after lost tickets, lost answers and drafts left behind; verify and rollback.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_ticket_vvp_forgot_is_re_derived_from_the_draft_s_deployment() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("ticket", Fails(ticket_not_found())),
            ("draft", Draft(Some(draft("draft-1", &desired().sql, Some("dep-1"))))),
            ("deployment", ours("dep-1", &desired().sql)),
            ("drafts", Drafts(vec![])),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(
        r.log[..6],
        lines(
            "
        write 2: orders applying create/lookup ticket=ticket-1 draft=draft-1
        call find_deployment orders
        call ticket ticket-1
        write 3: orders applying create/lookup draft=draft-1
        call draft draft-1
        call deployment dep-1
    "
        )
    );
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-1"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_ticket_vvp_forgot_of_a_draft_never_deployed_deploys_that_draft_again() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("ticket", Fails(ticket_not_found())),
            ("draft", Draft(Some(draft("draft-1", &desired().sql, None)))),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("drafts", Drafts(vec![])),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call deploy draft-1 on default-queue".to_string()), "no second draft: {:?}", r.log);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-1"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_draft_an_earlier_run_left_is_reused_when_it_fits_and_discarded_when_not() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            (
                "drafts",
                Drafts(vec![draft("draft-old", "SELECT 'other SQL';", None), draft("draft-1", &desired().sql, None)]),
            ),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|l| l.starts_with("call create_sql_draft")), "reused, not made again: {:?}", r.log);
    let discarded: Vec<&str> =
        r.log.iter().filter(|l| l.starts_with("call discard_draft")).map(String::as_str).collect();
    assert_eq!(discarded, ["call discard_draft draft-1", "call discard_draft draft-old"]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_to_creating_a_draft_is_looked_up_before_creating_again() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Fails(lost("CreateDeploymentDraft"))),
            ("drafts", Drafts(vec![draft("draft-1", &desired().sql, None)])),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Running))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.log.iter().filter(|l| l.starts_with("call create_sql_draft")).count(), 1, "{:?}", r.log);
    assert!(r.log.contains(&"call deploy draft-1 on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_flinkform_start_resumes_with_the_restore_it_was_asked_for() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    before.pending = Some(flinkform_core::state::Pending {
        restore: Some(Restore::LatestSavepoint),
        ..flinkform_core::state::Pending::new(Operation::Start, flinkform_core::state::Step::Start)
    });
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call start dep-1 restore LATEST_SAVEPOINT on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_fails_in_the_verify_window_fails_the_pipeline() {
    use Answer::*;
    let mut after = desired();
    after.deploy.verify_secs = Some(60);
    let mut before = applied();
    before.status = Status::Failed;
    before.deploy.verify_secs = Some(60);
    let failed = JobState::Failed("JobFailed: OOM".into());
    let r = run(
        Action::Repair,
        Some(before),
        Some(after),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", failed))),
            ("diagnosis", Diagnosis(vec![])),
        ],
    )
    .await;
    assert_eq!(
        r.outcome.failed,
        [("orders".to_string(), "job job-2 failed within the 60s verify window: JobFailed: OOM".to_string())]
    );
    assert_eq!(
        r.log.last().unwrap(),
        "write 4: orders failed dep=dep-1 job=job-2 history=create@1 error=JobFailed: OOM"
    );
}

#[tokio::test(start_paused = true)]
async fn an_update_whose_job_fails_rolls_back_to_the_previous_revision_and_its_savepoint() {
    use Answer::*;
    let mut after = changed(Upgrade::Stateful);
    after.deploy.on_failure = flinkform_core::spec::OnFailure::Rollback;
    let r = run(
        Action::Update,
        Some(applied()),
        Some(after),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("stop_savepoint", MaybeId(Some("sp-1".into()))),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Failed("boom".into())))),
            ("diagnosis", Diagnosis(vec![])),
            // The rollback: the previous SQL, from the savepoint the update's stop took.
            ("live_job", Live(None)),
            ("create_sql_draft", Id("draft-3")),
            ("deploy", Id("ticket-3")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-3", JobState::Starting))),
            ("job", Job(job("job-3", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(
        r.outcome.failed,
        [("orders".to_string(), "job job-2 failed: boom; rolled back: the previous revision runs again".to_string())]
    );
    let starts: Vec<&str> = r.log.iter().filter(|l| l.starts_with("call start")).map(String::as_str).collect();
    assert_eq!(starts, ["call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue"; 2]);
    assert!(r.log.contains(&"call create_sql_draft orders for dep-1".to_string()), "the previous SQL: {:?}", r.log);
    let last = r.log.last().unwrap();
    assert!(last.contains("orders running dep=dep-1 job=job-3 history=create@1,rollback@"), "{last}");
    assert!(last.ends_with("error=the update was rolled back: job job-2 failed: boom"), "{last}");
    assert_eq!(r.state.unwrap().pipelines["orders"].sql, desired().sql, "the previous revision is recorded");
}
