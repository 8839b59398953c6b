//! Create, update, replace, destroy, repair and state-only changes.

use super::*;

#[tokio::test(start_paused = true)]
async fn create_journals_each_step_before_its_call_and_each_id_after() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-1")),
            ("deploy", Id("ticket-1")),
            ("ticket", Ticket(TicketState::Running)),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-1", JobState::Starting))),
            ("job", Job(job("job-1", JobState::Starting))),
            ("job", Job(job("job-1", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.add, 1);
    // One pipeline alone: each change is a write of its own.
    assert_eq!(r.outcome.journal, JournalStats { changes: 12, writes: 12 });
    assert_eq!(
        r.log,
        lines(
            "
        write 1: orders applying create/lookup
        call find_deployment orders
        call drafts
        write 2: orders applying create/create_draft
        call create_sql_draft orders for a new deployment
        write 3: orders applying create/create_draft draft=draft-1
        write 4: orders applying create/deploy draft=draft-1
        call deploy draft-1 on default-queue
        write 5: orders applying create/deploy ticket=ticket-1 draft=draft-1
        call ticket ticket-1
        call ticket ticket-1
        write 6: orders applying create/deploy draft=draft-1
        write 7: orders applying create/deploy draft=draft-1 dep=dep-1
        call discard_draft draft-1
        write 8: orders applying create/deploy dep=dep-1
        write 9: orders applying create/configure dep=dep-1
        call configure dep-1 parallelism 2
        call live_job dep-1
        write 10: orders applying create/start dep=dep-1
        call start dep-1 restore NONE on default-queue
        write 11: orders applying create/start dep=dep-1 job=job-1
        call job job-1
        call job job-1
        write 12: orders running dep=dep-1 job=job-1 history=create@12
    "
        )
    );
    let rec = &r.state.unwrap().pipelines["orders"];
    assert_eq!((rec.sql.as_str(), rec.history[0].stamp.at.as_str()), (desired().sql.as_str(), "2026-12-02T00:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn a_stateful_update_restores_exactly_the_savepoint_its_stop_took() {
    use Answer::*;
    let r = run(
        Action::Update,
        Some(applied()),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(Some(job("job-1", JobState::Cancelling)))),
            ("live_job", Live(None)),
            ("stop_savepoint", MaybeId(Some("sp-1".into()))),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.change, 1);
    assert_eq!(r.log, lines(
            "
        write 2: orders applying update/stop dep=dep-1 job=job-1 history=create@1
        call live_job dep-1
        call stop job-1 STOP_WITH_SAVEPOINT
        call live_job dep-1
        call live_job dep-1
        call stop_savepoint dep-1 job-1
        write 3: orders applying update/stop savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call drafts
        write 4: orders applying update/create_draft savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call create_sql_draft orders (v2) for dep-1
        write 5: orders applying update/create_draft savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        write 6: orders applying update/deploy savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call deploy draft-2 on default-queue
        write 7: orders applying update/deploy ticket=ticket-2 savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call ticket ticket-2
        write 8: orders applying update/deploy savepoint=sp-1 draft=draft-2 dep=dep-1 job=job-1 history=create@1
        call discard_draft draft-2
        write 9: orders applying update/deploy savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        write 10: orders applying update/configure savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call configure dep-1 parallelism 2
        call live_job dep-1
        write 11: orders applying update/start savepoint=sp-1 dep=dep-1 job=job-1 history=create@1
        call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue
        write 12: orders applying update/start savepoint=sp-1 dep=dep-1 job=job-2 history=create@1
        call job job-2
        write 13: orders running dep=dep-1 job=job-2 history=create@1,update@13
    "
        ));
}

#[tokio::test(start_paused = true)]
async fn a_stateful_update_without_a_running_job_starts_from_the_latest_state_not_an_old_savepoint() {
    use Answer::*;
    let before = applied();
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.contains(&"call start dep-1 restore LATEST_STATE on default-queue".to_string()), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_update_restores_the_savepoint_its_first_run_journaled() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Applying;
    before.pending = Some(flinkform_core::state::Pending {
        savepoint_id: Some("sp-1".into()),
        ..flinkform_core::state::Pending::new(Operation::Update, flinkform_core::state::Step::CreateDraft)
    });
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(
        r.log.contains(&"call start dep-1 restore FROM_SAVEPOINT sp-1 on default-queue".to_string()),
        "{:?}",
        r.log
    );
}

#[tokio::test(start_paused = true)]
async fn a_stateless_update_stops_without_a_savepoint_and_starts_without_state() {
    use Answer::*;
    let before = applied();
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateless)),
        vec![
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    let calls: Vec<&str> = r
        .log
        .iter()
        .filter(|l| l.starts_with("call stop") || l.starts_with("call start"))
        .map(String::as_str)
        .collect();
    assert_eq!(calls, ["call stop job-1 NONE", "call start dep-1 restore NONE on default-queue"]);
    assert!(
        r.log.last().unwrap().ends_with("orders running dep=dep-1 job=job-2 history=create@1,update@12"),
        "{:?}",
        r.log
    );
}

#[tokio::test(start_paused = true)]
async fn replace_destroys_the_old_deployment_before_creating_the_new_one() {
    use Answer::*;
    let r = run(
        Action::Replace,
        Some(applied()),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("deployment", ours("dep-1", &applied().sql)),
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(None)),
            ("delete", Done),
            ("drafts", Drafts(vec![])),
            ("find_deployment", Deployment(None)),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-2".into()))),
            ("discard_draft", Done),
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Running))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.replace, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying replace/stop dep=dep-1 job=job-1 history=create@1
        call deployment dep-1
        call live_job dep-1
        call stop job-1 NONE
        call live_job dep-1
        write 3: orders applying replace/delete dep=dep-1 job=job-1 history=create@1
        call delete dep-1
        call drafts
        write 4: orders destroyed replace/delete history=create@1
        write 5: orders applying replace/lookup history=create@1
        call find_deployment orders
        write 6: orders applying replace/create_draft history=create@1
        call create_sql_draft orders (v2) for a new deployment
        write 7: orders applying replace/create_draft draft=draft-2 history=create@1
        write 8: orders applying replace/deploy draft=draft-2 history=create@1
        call deploy draft-2 on default-queue
        write 9: orders applying replace/deploy ticket=ticket-2 draft=draft-2 history=create@1
        call ticket ticket-2
        write 10: orders applying replace/deploy draft=draft-2 history=create@1
        write 11: orders applying replace/deploy draft=draft-2 dep=dep-2 history=create@1
        call discard_draft draft-2
        write 12: orders applying replace/deploy dep=dep-2 history=create@1
        write 13: orders applying replace/configure dep=dep-2 history=create@1
        call configure dep-2 parallelism 2
        call live_job dep-2
        write 14: orders applying replace/start dep=dep-2 history=create@1
        call start dep-2 restore NONE on default-queue
        write 15: orders applying replace/start dep=dep-2 job=job-2 history=create@1
        call job job-2
        write 16: orders running dep=dep-2 job=job-2 history=create@1,replace@16
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn destroy_stops_deletes_and_then_forgets_the_pipeline() {
    use Answer::*;
    let r = run(
        Action::Delete,
        Some(applied()),
        None,
        vec![
            ("deployment", ours("dep-1", &applied().sql)),
            ("live_job", Live(Some(job("job-1", JobState::Running)))),
            ("stop", Done),
            ("live_job", Live(Some(job("job-1", JobState::Cancelling)))),
            ("live_job", Live(None)),
            ("delete", Done),
            ("drafts", Drafts(vec![])),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.destroy, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying delete/stop dep=dep-1 job=job-1 history=create@1
        call deployment dep-1
        call live_job dep-1
        call stop job-1 NONE
        call live_job dep-1
        call live_job dep-1
        write 3: orders applying delete/delete dep=dep-1 job=job-1 history=create@1
        call delete dep-1
        call drafts
        write 4: orders destroyed delete/delete history=create@1
        write 5:
    "
        )
    );
    assert!(r.state.unwrap().pipelines.is_empty());
}

#[tokio::test(start_paused = true)]
async fn destroy_of_a_deployment_deleted_outside_flinkform_stops_and_deletes_nothing() {
    use Answer::*;
    let r =
        run(Action::Delete, Some(applied()), None, vec![("deployment", Deployment(None)), ("drafts", Drafts(vec![]))])
            .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.destroy, 1);
    assert!(r.state.unwrap().pipelines.is_empty(), "forgotten");
}

#[tokio::test(start_paused = true)]
async fn repair_starts_the_failed_job_again_from_its_latest_state() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Failed;
    before.error = Some("job failed".into());
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.outcome.done.repair, 1);
    assert_eq!(
        r.log,
        lines(
            "
        write 2: orders applying repair/start dep=dep-1 job=job-1 history=create@1 error=job failed
        call configure dep-1 parallelism 2
        call live_job dep-1
        call start dep-1 restore LATEST_STATE on default-queue
        write 3: orders applying repair/start dep=dep-1 job=job-2 history=create@1 error=job failed
        call job job-2
        write 4: orders running dep=dep-1 job=job-2 history=create@1,repair@4
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_create_resumes_its_journaled_ticket_without_a_second_draft() {
    use Answer::*;
    let r = run(
        Action::Create,
        Some(waiting_on_ticket()),
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
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
    assert_eq!(
        r.log[..4],
        lines(
            "
        write 2: orders applying create/lookup ticket=ticket-1 draft=draft-1
        call find_deployment orders
        call ticket ticket-1
        write 3: orders applying create/lookup draft=draft-1
    "
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_whose_answer_was_lost_adopts_the_job_it_made() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    let r = run(
        Action::Repair,
        Some(before),
        Some(desired()),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Fails(lost("StartJobWithParams"))),
            ("live_job", Live(Some(job("job-2", JobState::Starting)))),
            ("job", Job(job("job-2", JobState::Running))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-2"), "{:?}", r.log);
}

/// A create's script up to its start, then `then`.
fn create_then(then: Vec<(&'static str, Answer)>) -> Vec<(&'static str, Answer)> {
    use Answer::*;
    let mut script = vec![
        ("find_deployment", Deployment(None)),
        ("drafts", Drafts(vec![])),
        ("create_sql_draft", Id("draft-1")),
        ("deploy", Id("ticket-1")),
        ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
        ("discard_draft", Done),
        ("configure", Done),
    ];
    script.extend(then);
    script
}

#[tokio::test(start_paused = true)]
async fn a_start_looks_first_and_keeps_a_job_that_is_already_live() {
    use Answer::*;
    // Started from the console between the deploy and the start: nothing documents that
    // VVP refuses a second live job, so the start looks and keeps it.
    let script = create_then(vec![
        ("live_job", Live(Some(job("job-9", JobState::Running)))),
        ("job", Job(job("job-9", JobState::Running))),
    ]);
    let r = run(Action::Create, None, Some(desired()), script).await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|c| c.starts_with("call start")), "no second job: {:?}", r.log);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-9"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_start_refused_because_a_job_went_live_since_the_look_keeps_that_job() {
    use Answer::*;
    let refused = VvpError::Api {
        action: "StartJobWithParams".into(),
        status: 400,
        code: "JobAlreadyRunning".into(),
        message: "deployment orders already has a job that is not stopped".into(),
        request_id: "r-1".into(),
    };
    let script = create_then(vec![
        ("live_job", Live(None)),
        ("start", Fails(refused)),
        ("live_job", Live(Some(job("job-9", JobState::Running)))),
        ("job", Job(job("job-9", JobState::Running))),
    ]);
    let r = run(Action::Create, None, Some(desired()), script).await;
    assert_eq!(r.outcome.failed, []);
    assert!(r.log.last().unwrap().contains("running dep=dep-1 job=job-9"), "{:?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_is_recorded_failed_with_vvp_s_message_and_diagnosis() {
    use Answer::*;
    let r = run(
        Action::Repair,
        Some(applied()),
        Some(desired()),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Failed("OOM: heap".into())))),
            ("diagnosis", Diagnosis(vec!["TaskManagerOOM: heap exhausted (raise taskmanager memory)".into()])),
        ],
    )
    .await;
    let why = "OOM: heap; VVP's diagnosis: TaskManagerOOM: heap exhausted (raise taskmanager memory)";
    assert_eq!(r.outcome.failed, [("orders".to_string(), format!("job job-2 failed: {why}"))]);
    assert_eq!(
        r.log.last().unwrap(),
        &format!("write 4: orders failed dep=dep-1 job=job-2 history=create@1 error={why}")
    );
    assert!(r.log.contains(&"call diagnosis dep-1 job-2".to_string()), "{:#?}", r.log);
}

#[tokio::test(start_paused = true)]
async fn a_diagnosis_that_cannot_be_read_leaves_vvp_s_message() {
    use Answer::*;
    let r = run(
        Action::Repair,
        Some(applied()),
        Some(desired()),
        vec![
            ("configure", Done),
            ("live_job", Live(None)),
            ("start", Job(job("job-2", JobState::Starting))),
            ("job", Job(job("job-2", JobState::Failed("OOM: heap".into())))),
            ("diagnosis", Fails(lost("GetJobDiagnosis"))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, [("orders".to_string(), "job job-2 failed: OOM: heap".to_string())]);
}

#[tokio::test(start_paused = true)]
async fn a_vvp_error_keeps_the_step_journaled_for_the_next_run() {
    use Answer::*;
    let r = run(
        Action::Create,
        None,
        Some(desired()),
        vec![
            ("find_deployment", Deployment(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-1")),
            ("deploy", Fails(lost("DeployDeploymentDraftAsync"))),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed.len(), 1);
    assert!(r.outcome.failed[0].1.contains("DeployDeploymentDraftAsync"), "{:?}", r.outcome.failed);
    assert_eq!(r.log.last().unwrap(), "call deploy draft-1 on default-queue");
    let rec = &r.state.unwrap().pipelines["orders"];
    assert_eq!((rec.status, rec.remote.draft_id.as_deref()), (Status::Applying, Some("draft-1")));
}

#[tokio::test(start_paused = true)]
async fn a_state_only_change_is_recorded_without_a_call_to_vvp() {
    let mut after = desired();
    after.protect = true;
    let r = run(Action::Record, Some(applied()), Some(after), Vec::new()).await;
    assert_eq!(r.outcome.failed, []);
    assert_eq!(r.log, lines("write 2: orders running dep=dep-1 job=job-1 history=create@1"));
    assert!(r.state.unwrap().pipelines["orders"].protect);
}

#[tokio::test(start_paused = true)]
async fn an_update_of_a_stopped_pipeline_deploys_and_leaves_the_job_stopped() {
    use Answer::*;
    let mut before = applied();
    before.status = Status::Stopped;
    before.intent = flinkform_core::state::Intent::Stopped;
    let r = run(
        Action::Update,
        Some(before),
        Some(changed(Upgrade::Stateful)),
        vec![
            ("live_job", Live(None)),
            ("drafts", Drafts(vec![])),
            ("create_sql_draft", Id("draft-2")),
            ("deploy", Id("ticket-2")),
            ("ticket", Ticket(TicketState::Deployed("dep-1".into()))),
            ("discard_draft", Done),
            ("configure", Done),
        ],
    )
    .await;
    assert_eq!(r.outcome.failed, []);
    assert!(!r.log.iter().any(|l| l.starts_with("call start")), "{:?}", r.log);
    assert_eq!(r.log.last().unwrap(), "write 10: orders stopped dep=dep-1 job=job-1 history=create@1,update@10");
}
