//! The steps of each action: what the executor asks of VVP, in order, journaling
//! before and after each remote call.

use std::ops::ControlFlow::{Break, Continue};

use tokio::time::Instant;

use flinkform_core::echo::same_sql;
use flinkform_core::plan::SinkDdl;
use flinkform_core::spec::{OnFailure, Upgrade};
use flinkform_core::state::resume;
use flinkform_core::state::{self, DeployParams, Intent, Operation, Pending, PipelineState, Step};
use std::collections::HashMap;

use vvp_api::{JobState, RemoteDraft, Restore, Stop, TicketState};

use super::{Done, Error, Event, Executor, Res, Vvp};
use crate::poll::{Backoff, poll_until};

/// How a deploy ticket ended.
enum Ticket {
    Deployed(String),
    Failed(String),
    /// VVP does not know the ticket (any more).
    Lost,
}

pub(super) fn took_too_long(what: String, timeout: std::time::Duration) -> Error {
    Error::Timeout { what, timeout }
}

impl<V: Vvp> Executor<'_, V> {
    /// Create: adopt our deployment of this name or deploy a new one, configure, start.
    /// An adopted deployment keeps its state: its live job is kept, and a stateful
    /// pipeline's job starts from the latest state it has (a resumed create's own job,
    /// or a pipeline the state forgot); a pipeline stopped on purpose stays stopped.
    pub(super) async fn create(
        &self,
        name: &str,
        after: &PipelineState,
        action: Operation,
        ddl: &[SinkDdl],
    ) -> Res<()> {
        let prior = self.recorded(name).await;
        self.journal(name, |st| {
            let mut rec = after.clone();
            if let Some(p) = &prior {
                rec.history.clone_from(&p.history);
                rec.intent = p.intent;
                // Ids of an interrupted create are resumed; others are of a deployment that is gone.
                if p.pending.is_some() {
                    rec.remote = p.remote.clone();
                }
            }
            rec.status = state::Status::Applying;
            rec.pending = Some(Pending {
                ticket_id: prior.as_ref().and_then(|p| p.pending.as_ref()).and_then(|p| p.ticket_id.clone()),
                ..Pending::new(action, Step::Lookup)
            });
            st.pipelines.insert(name.to_string(), rec);
        })
        .await?;
        self.sink_ddl(name, after, ddl).await?;
        self.step(name, Step::Lookup, "looking up the deployment by name").await?;
        let fresh = match after.deploy.upgrade {
            Upgrade::Stateful => Restore::LatestState,
            Upgrade::Stateless => Restore::None,
        };
        let (dep, restore) = match self.vvp.find_deployment(name).await? {
            Some(d) if d.ours() => {
                self.event(name, &format!("adopting deployment {}", d.id));
                let restore = if !d.sql.as_deref().is_some_and(|s| same_sql(s, &after.sql)) {
                    // It runs other SQL: bring it to the plan like an update.
                    let restore = self.stop_for_restart(name, &d.id, &after.sql, after.deploy.upgrade, action).await?;
                    self.deploy(name, after, Some(&d.id)).await?;
                    restore
                } else {
                    fresh
                };
                (d.id, restore)
            }
            Some(d) => {
                return Err(Error::NameTaken { name: name.to_string(), deployment: d.id });
            }
            None => (self.deploy(name, after, None).await?, Restore::None),
        };
        self.set_deployment(name, &dep).await?;
        // An adopted deployment may have been reached by a run that died before
        // discarding its drafts.
        self.discard_drafts(name).await?;
        let may_run = self.configure(name, &dep, after).await?;
        if self.intent(name).await == Intent::Stopped {
            return self.finish_as(name, after, action, state::Status::Stopped, Done::Stopped).await;
        }
        self.start(name, &dep, &restore, &after.deploy, may_run).await?;
        self.finish(name, after, action).await
    }

    /// Update in place: stop (with a savepoint when `upgrade`, the plan's, is stateful),
    /// redeploy, start again. A
    /// resumed update goes on from what VVP shows ([`resume::restart`]); a pipeline
    /// stopped on purpose is redeployed and stays stopped.
    pub(super) async fn upgrade(
        &self,
        name: &str,
        before: &PipelineState,
        after: &PipelineState,
        upgrade: Upgrade,
        ddl: &[SinkDdl],
    ) -> Res<()> {
        let dep = before.remote.deployment_id.clone().expect("checked by the caller");
        self.update(name, |p| {
            p.status = state::Status::Applying;
            // Another action's entry (an interrupted rollback or hot update) is not this
            // update's progress: the update begins, from what VVP shows. An interrupted
            // rollback's savepoint (the state before the failed update) stays the one
            // its start restores while no job runs.
            if resume::reached(p.pending.as_ref(), Operation::Update).is_none() {
                let kept = p.pending.take().filter(|x| x.action == Operation::Rollback).and_then(|x| x.savepoint_id);
                p.pending = Some(Pending { savepoint_id: kept, ..Pending::new(Operation::Update, Step::Stop) });
            }
        })
        .await?;
        self.sink_ddl(name, after, ddl).await?;
        let restore = self.stop_for_restart(name, &dep, &after.sql, upgrade, Operation::Update).await?;
        // What a rollback restores: the state before the update (its stop's savepoint).
        let before_update = match self.read(name, |p| p.pending.as_ref()?.savepoint_id.clone()).await {
            Some(sp) => Restore::FromSavepoint(sp),
            None => restore.clone(),
        };
        self.deploy(name, after, Some(&dep)).await?;
        let may_run = self.configure(name, &dep, after).await?;
        if self.intent(name).await == Intent::Stopped {
            // Stopped on purpose: it stays stopped until `flinkform start`.
            return self.finish_as(name, after, Operation::Update, state::Status::Stopped, Done::Stopped).await;
        }
        match self.start(name, &dep, &restore, &after.deploy, may_run).await {
            Err(why) if why.job_did_not_run() && after.deploy.on_failure == OnFailure::Rollback => {
                self.rollback(name, &dep, before, &before_update, why).await
            }
            started => {
                started?;
                self.finish(name, after, Operation::Update).await
            }
        }
    }

    /// `[deployment] on_failure = "rollback"`: the update's job failed, so the previous
    /// revision is deployed again and started from the state the update's stop kept
    /// (`restore`). The pipeline runs as before, recorded with a `rollback` revision and
    /// the failure as its error; the apply still reports the update as failed.
    async fn rollback(&self, name: &str, dep: &str, before: &PipelineState, restore: &Restore, why: Error) -> Res<()> {
        self.event(name, &format!("{why}: rolling back to the previous revision"));
        let savepoint = match restore {
            Restore::FromSavepoint(sp) => Some(sp.clone()),
            _ => None,
        };
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending { savepoint_id: savepoint, ..Pending::new(Operation::Rollback, Step::Stop) });
        })
        .await?;
        self.stop_all(name, dep, Stop::Now).await?;
        self.deploy(name, before, Some(dep)).await?;
        let may_run = self.configure(name, dep, before).await?;
        self.start(name, dep, restore, &before.deploy, may_run).await?;
        let stamp = &self.stamp;
        self.journal(name, |st| {
            let serial = st.serial + 1;
            if let Some(cur) = st.pipelines.get_mut(name) {
                let mut rec = before.applied(
                    Some(&*cur),
                    cur.remote.clone(),
                    Operation::Rollback,
                    serial,
                    stamp,
                    state::Status::Running,
                );
                rec.error = Some(format!("the update was rolled back: {why}"));
                *cur = rec;
            }
        })
        .await?;
        (self.events)(name, Event::Done(Done::RolledBack));
        Err(Error::RolledBack { why: Box::new(why) })
    }

    /// Repair: start the job again (from the latest state when stateful).
    pub(super) async fn repair(&self, name: &str, before: &PipelineState, after: &PipelineState) -> Res<()> {
        let Some(dep) = before.remote.deployment_id.clone() else {
            return self.create(name, after, Operation::Create, &[]).await;
        };
        // An interrupted `flinkform start` restores what it was asked to.
        let asked = before.pending.as_ref().filter(|p| p.action == Operation::Start).and_then(|p| p.restore.clone());
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending::new(Operation::Repair, Step::Start));
        })
        .await?;
        if before.sql != after.sql || before.deploy != after.deploy {
            self.stop_all(name, &dep, Stop::Now).await?;
            self.deploy(name, after, Some(&dep)).await?;
        }
        // The deployment as recorded (settings edited outside flinkform are put back).
        let may_run = self.vvp.configure(name, &dep, &after.deploy.vvp_settings()).await?;
        let restore = asked.unwrap_or(match after.deploy.upgrade {
            Upgrade::Stateful => Restore::LatestState,
            Upgrade::Stateless => Restore::None,
        });
        self.start(name, &dep, &restore, &after.deploy, may_run).await?;
        self.finish(name, after, Operation::Repair).await
    }

    /// Runs the planned sink DDL (idempotent: IF NOT EXISTS, and only missing columns)
    /// before the job is deployed, on each sink whose `dsn_env` is set.
    pub(super) async fn sink_ddl(&self, name: &str, after: &PipelineState, ddl: &[SinkDdl]) -> Res<()> {
        let mut runs = Vec::new();
        for s in after.sinks() {
            let tag = s.tag();
            let mine: Vec<SinkDdl> = ddl.iter().filter(|d| d.sink() == tag.as_deref()).cloned().collect();
            if let (Some(env), false) = (s.sink.dsn_env.as_deref(), mine.is_empty()) {
                runs.push((env, s.sink, s.sink.label(), mine));
            }
        }
        if runs.is_empty() {
            return Ok(());
        }
        let tables: Vec<&str> = runs.iter().map(|(_, _, l, _)| l.as_str()).collect();
        self.step(name, Step::SinkDdl, &format!("running the sink DDL on {}", tables.join(", "))).await?;
        let mut batches = 0;
        for (env, sink, _, mine) in &runs {
            batches += crate::sink::run_ddl(env, &sink.schema, &sink.table, mine).await.map_err(Error::Sink)?.len();
        }
        let batches =
            if batches == 1 { "1 statement batch".to_string() } else { format!("{batches} statement batches") };
        self.event(name, &format!("sink DDL: {batches} run"));
        Ok(())
    }

    /// Destroy: stop the job, delete the deployment (the Hologres table is kept).
    pub(super) async fn destroy(&self, name: &str, before: &PipelineState, action: Operation) -> Res<()> {
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending::new(action, Step::Stop));
        })
        .await?;
        // A recorded deployment deleted behind flinkform's back is gone: nothing to stop.
        let dep = match &before.remote.deployment_id {
            Some(d) => self.vvp.recorded_deployment(d, name).await?.map(|_| d.clone()),
            None => self.vvp.find_deployment(name).await?.filter(|d| d.ours()).map(|d| d.id),
        };
        if let Some(dep) = dep {
            self.stop_all(name, &dep, Stop::Now).await?;
            self.step(name, Step::Delete, &format!("deleting deployment {dep}")).await?;
            self.vvp.delete(&dep, name).await?;
        }
        self.discard_drafts(name).await?;
        self.update(name, |p| {
            p.remote = Default::default();
            p.status = state::Status::Destroyed;
        })
        .await?;
        (self.events)(name, Event::Done(Done::Destroyed));
        Ok(())
    }

    /// Sets the deployment as `after` records it; whether it may have a live job (VVP's
    /// job summary in the answer), which the start then looks for.
    pub(super) async fn configure(&self, name: &str, dep: &str, after: &PipelineState) -> Res<bool> {
        self.step(name, Step::Configure, "configuring resources and Flink configuration").await?;
        Ok(self.vvp.configure(name, dep, &after.deploy.vvp_settings()).await?)
    }

    /// Deploys the planned SQL through a draft (linked to `deployment` to update it) and
    /// returns the deployment id. Resumes an in-flight ticket or a deployed draft; a
    /// ticket VVP no longer knows (expired) is re-derived from the draft's deployment,
    /// or the draft deployed again.
    async fn deploy(&self, name: &str, after: &PipelineState, deployment: Option<&str>) -> Res<String> {
        for _ in 0..3 {
            // A resumed ticket's wait counts from now: when it was asked for is not known.
            let (ticket, since) = match self.read(name, |p| p.pending.as_ref()?.ticket_id.clone()).await {
                Some(t) => (t, Instant::now()),
                None => match self.draft_or_ticket(name, after, deployment).await? {
                    Ok(dep) => return self.landed(name, dep).await,
                    Err(asked) => asked,
                },
            };
            let deadline = Instant::now() + self.timeouts.deploy;
            // An error here (VVP's or an interrupt) keeps the ticket journaled, to resume.
            let done = self
                .paces
                .deploy
                .poll(since, deadline, async || {
                    self.check_cancel()?;
                    Ok::<_, Error>(match self.vvp.ticket(&ticket).await {
                        Ok(TicketState::Running) => Continue(()),
                        Ok(TicketState::Deployed(id)) => Break(Ticket::Deployed(id)),
                        Ok(TicketState::Failed(m)) => Break(Ticket::Failed(m)),
                        Err(e) if e.may_be_gone() => Break(Ticket::Lost),
                        Err(e) => return Err(e.into()),
                    })
                })
                .await?;
            let result = match done {
                None => Err(took_too_long(format!("deploy ticket {ticket} did not finish"), self.timeouts.deploy)),
                Some(Ticket::Deployed(id)) => Ok(id),
                Some(Ticket::Lost) => {
                    self.event(name, &format!("VVP no longer knows deploy ticket {ticket}: looking at the draft"));
                    self.set_ticket(name, None).await?;
                    continue;
                }
                // A retried or resumed deploy of ours may have won the race for the name.
                Some(Ticket::Failed(m)) => match self.vvp.find_deployment(name).await? {
                    Some(d)
                        if d.ours()
                            && deployment.is_none_or(|x| x == d.id)
                            && d.sql.as_deref().is_some_and(|s| same_sql(s, &after.sql)) =>
                    {
                        Ok(d.id)
                    }
                    _ => Err(Error::DeployFailed(m)),
                },
            };
            self.set_ticket(name, None).await?;
            let id = result?;
            self.event(name, &format!("deployed to {id}"));
            return self.landed(name, id).await;
        }
        Err(Error::TicketsLost)
    }

    /// Journals the deployment the SQL runs in, and discards the drafts that got it there.
    async fn landed(&self, name: &str, id: String) -> Res<String> {
        self.set_deployment(name, &id).await?;
        self.discard_drafts(name).await?;
        Ok(id)
    }

    async fn set_deployment(&self, name: &str, id: &str) -> Res<()> {
        if self.read(name, |p| p.remote.deployment_id.as_deref().map(|d| d == id)).await == Some(true) {
            return Ok(());
        }
        self.update(name, |p| p.remote.deployment_id = Some(id.to_string())).await
    }

    async fn set_ticket(&self, name: &str, ticket: Option<String>) -> Res<()> {
        self.update_pending(name, |pending| pending.ticket_id = ticket).await
    }

    /// `Ok`: a draft of this pipeline is already deployed to the deployment with this
    /// SQL. `Err`: the ticket of deploying a draft with this SQL (the journaled one, one
    /// an earlier run made but never journaled, or a new one), journaled, and when the
    /// deploy was asked for.
    async fn draft_or_ticket(
        &self,
        name: &str,
        after: &PipelineState,
        deployment: Option<&str>,
    ) -> Res<Result<String, (String, Instant)>> {
        let fits = |d: &RemoteDraft| {
            d.sql.as_deref().is_some_and(|s| same_sql(s, &after.sql))
                && deployment.is_none_or(|x| d.deployment.as_deref() == Some(x))
        };
        let journaled = self.read(name, |p| p.remote.draft_id.clone()).await;
        let found = match &journaled {
            Some(id) => self.vvp.draft(id).await?.filter(fits),
            None => None,
        };
        let found = match found {
            Some(d) => Some(d),
            None => self.drafts_of(name, false).await?.into_iter().find(fits),
        };
        if let Some(d) = &found {
            if let Some(dep) = &d.deployment
                && self
                    .vvp
                    .recorded_deployment(dep, name)
                    .await?
                    .is_some_and(|x| x.sql.as_deref().is_some_and(|s| same_sql(s, &after.sql)))
            {
                self.event(name, &format!("deployment {dep} already runs this SQL (draft {})", d.id));
                self.set_draft(name, Some(d.id.clone())).await?;
                return Ok(Ok(dep.clone()));
            }
            self.event(name, &format!("reusing draft {}", d.id));
        }
        let draft = match found {
            Some(d) => d.id,
            None => self.create_draft(name, after, deployment).await?,
        };
        self.set_draft(name, Some(draft.clone())).await?;
        self.step(name, Step::Deploy, &format!("deploying draft {draft}")).await?;
        let asked = Instant::now();
        let t = self.vvp.deploy(&draft, &after.deploy.resource_queue).await?;
        self.set_ticket(name, Some(t.clone())).await?;
        Ok(Err((t, asked)))
    }

    /// Creates a draft. An answer lost after the draft may have been made is followed by
    /// a look (a fresh listing) before creating again, so no draft is made twice.
    async fn create_draft(&self, name: &str, after: &PipelineState, deployment: Option<&str>) -> Res<String> {
        self.step(name, Step::CreateDraft, "creating a deployment draft").await?;
        match self.vvp.create_sql_draft(name, &after.sql, &after.deploy.engine_version, deployment).await {
            Ok(id) => Ok(id),
            Err(e) if e.may_have_taken_effect() => {
                let made = self.drafts_of(name, true).await?.into_iter().find(|d| {
                    d.sql.as_deref().is_some_and(|s| same_sql(s, &after.sql)) && d.deployment.as_deref() == deployment
                });
                match made {
                    Some(d) => Ok(d.id),
                    None => Ok(self
                        .vvp
                        .create_sql_draft(name, &after.sql, &after.deploy.engine_version, deployment)
                        .await?),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// This project's drafts of `name`, listed once per apply (`fresh`: listed again).
    /// Only this apply, holding the state lock, makes drafts of these pipelines.
    async fn drafts_of(&self, name: &str, fresh: bool) -> Res<Vec<RemoteDraft>> {
        let mut cache = self.drafts.lock().await;
        if fresh || cache.is_none() {
            let mut by_name: HashMap<String, Vec<RemoteDraft>> = HashMap::new();
            for d in self.vvp.drafts().await? {
                by_name.entry(d.name.clone()).or_default().push(d);
            }
            *cache = Some(by_name);
        }
        Ok(cache.as_ref().and_then(|m| m.get(name)).cloned().unwrap_or_default())
    }

    /// Once deployed, a pipeline's drafts are litter: the deployed one, and any an
    /// interrupted run left. Deleted, and the journal forgets the draft.
    async fn discard_drafts(&self, name: &str) -> Res<()> {
        let journaled = self.read(name, |p| p.remote.draft_id.clone()).await;
        let listed = self.drafts_of(name, false).await?.into_iter().map(|d| d.id);
        let mut ids: Vec<String> = journaled.into_iter().chain(listed).collect();
        ids.sort();
        ids.dedup();
        for id in &ids {
            self.vvp.discard_draft(id).await?;
        }
        if let Some(m) = self.drafts.lock().await.as_mut() {
            m.remove(name);
        }
        self.set_draft(name, None).await
    }

    async fn set_draft(&self, name: &str, draft: Option<String>) -> Res<()> {
        if self.read(name, |p| Some(p.remote.draft_id == draft)).await == Some(true) {
            return Ok(());
        }
        self.update(name, |p| p.remote.draft_id = draft).await
    }

    /// Starts the deployment's job and waits for RUNNING. A job that is already live is
    /// kept, not started again (nothing Alibaba documents says VVP refuses a second live
    /// job): it is looked for before the start unless VVP's last answer about the
    /// deployment counted no live job (`may_run` false: the job summary of configuring
    /// it), and after a start whose answer was lost or refused.
    pub(super) async fn start(
        &self,
        name: &str,
        dep: &str,
        restore: &Restore,
        deploy: &DeployParams,
        may_run: bool,
    ) -> Res<()> {
        let queue = deploy.resource_queue.as_str();
        self.check_cancel()?;
        let live = if may_run { self.vvp.live_job(dep).await? } else { None };
        // The wait counts from the start asked for (from the look for a job that is kept).
        let since;
        let job = match live {
            Some(j) => {
                since = Instant::now();
                self.step(name, Step::Start, &format!("job {} is already {}: kept, not started again", j.id, j.state))
                    .await?;
                j
            }
            None => {
                self.step(name, Step::Start, &format!("starting the job (restore {restore})")).await?;
                since = Instant::now();
                match self.vvp.start(dep, restore, queue).await {
                    Ok(j) => j,
                    // A lost answer or a refusal: look before trying again. A start that
                    // happened left its job; one that did not is sent once more.
                    Err(e) => match self.vvp.live_job(dep).await? {
                        Some(j) => j,
                        None if e.transient() => self.vvp.start(dep, restore, queue).await?,
                        None => return Err(e.into()),
                    },
                }
            }
        };
        self.update(name, |p| p.remote.job_id = Some(job.id.clone())).await?;
        let deadline = Instant::now() + self.timeouts.start;
        let settled = self
            .paces
            .start
            .poll(since, deadline, async || {
                self.check_cancel()?;
                let s = self.vvp.job(&job.id).await?.state;
                Ok::<_, Error>(if s == JobState::Running || !s.live() { Break(s) } else { Continue(()) })
            })
            .await?;
        match settled {
            Some(JobState::Running) => Ok(()),
            Some(JobState::Failed(m)) => Err(self.job_failed(name, dep, &job.id, m, "failed").await?),
            Some(state) => Err(Error::JobLeft { job: job.id.clone(), when: "stopped while starting".into(), state }),
            None => Err(took_too_long(format!("job {} was not RUNNING", job.id), self.timeouts.start)),
        }?;
        self.verify(name, dep, &job.id, deploy.verify_secs).await
    }

    /// `[deployment] verify`: a started job must stay RUNNING for `secs` before apply
    /// counts it done; one that fails in the window fails the pipeline, recorded failed
    /// with VVP's message.
    pub(super) async fn verify(&self, name: &str, dep: &str, job: &str, secs: Option<u64>) -> Res<()> {
        let Some(secs) = secs else { return Ok(()) };
        self.event(name, &format!("verifying: job {job} must stay RUNNING for {secs}s"));
        let deadline = Instant::now() + std::time::Duration::from_secs(secs);
        let left = poll_until(deadline, Backoff::GROWING, async || {
            self.check_cancel()?;
            let s = self.vvp.job(job).await?.state;
            Ok::<_, Error>(if s == JobState::Running { Continue(()) } else { Break(s) })
        })
        .await?;
        match left {
            None => Ok(()),
            Some(JobState::Failed(m)) => {
                Err(self.job_failed(name, dep, job, m, &format!("failed within the {secs}s verify window")).await?)
            }
            Some(state) => Err(Error::JobLeft {
                job: job.to_string(),
                when: format!("left RUNNING within the {secs}s verify window"),
                state,
            }),
        }
    }

    /// Records the pipeline failed with VVP's message and its diagnosis of the job
    /// (GetJobDiagnosis: the startup and runtime symptoms); the error to report.
    async fn job_failed(&self, name: &str, dep: &str, job: &str, mut message: String, what: &str) -> Res<Error> {
        match self.vvp.diagnosis(dep, job).await {
            Ok(found) if !found.is_empty() => message.push_str(&format!("; VVP's diagnosis: {}", found.join("; "))),
            Ok(_) => {}
            Err(e) => self.event(name, &format!("VVP's diagnosis of job {job} could not be read: {e}")),
        }
        self.update(name, |p| {
            p.status = state::Status::Failed;
            p.error = Some(message.clone());
            p.pending = None;
        })
        .await?;
        Ok(Error::JobFailed { job: job.to_string(), when: what.to_string(), message })
    }
}
