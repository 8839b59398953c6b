//! Stopping jobs: every live job of a deployment until none is left, and the stop of a
//! restart, decided by the table of [`resume::restart`] from what the journal reached
//! and what VVP shows.

use std::ops::ControlFlow::{Break, Continue};

use tokio::time::Instant;

use flinkform_core::echo::same_sql;
use flinkform_core::spec::Upgrade;
use flinkform_core::state::resume::{self, Next, Seen};
use flinkform_core::state::{Operation, Step};
use vvp_api::{JobState, RemoteJob, Restore, Stop};

use super::steps::took_too_long;
use super::{Error, Executor, Res, Vvp};
use crate::poll::{Backoff, poll_until};

impl<V: Vvp> Executor<'_, V> {
    /// Brings the deployment's job to where a restart deploys, by the table of
    /// [`resume::restart`], and says what the restart's start restores: stateful, exactly
    /// the savepoint the restart's stop took (journaled, so a resumed apply restores the
    /// same one while no job was started since), else the latest state; stateless, none.
    /// The live job a resumed restart had started (it runs `planned` SQL) is kept: the
    /// start finds that job instead of starting one.
    pub(super) async fn stop_for_restart(
        &self,
        name: &str,
        dep: &str,
        planned: &str,
        upgrade: Upgrade,
        action: Operation,
    ) -> Res<Restore> {
        let (reached, savepoint) = self
            .read(name, |p| {
                let pending = p.pending.as_ref().filter(|x| x.action == action)?;
                Some((Some(pending.step), pending.savepoint_id.clone()))
            })
            .await
            .unwrap_or_default();
        let live = self.vvp.live_job(dep).await?;
        let seen = match &live {
            None => Seen::NoJob,
            Some(_) if reached == Some(Step::Start) => {
                match self
                    .vvp
                    .recorded_deployment(dep, name)
                    .await?
                    .is_some_and(|d| d.sql.as_deref().is_some_and(|s| same_sql(s, planned)))
                {
                    true => Seen::PlannedJob,
                    false => Seen::OtherJob,
                }
            }
            Some(_) => Seen::OtherJob,
        };
        let how = match resume::restart(reached, savepoint.as_deref(), seen, upgrade) {
            Next::Start(restore) => {
                match &restore {
                    Restore::LatestState => {
                        self.event(name, "no job was running: the job starts from its latest state")
                    }
                    Restore::FromSavepoint(sp) => self.event(
                        name,
                        &format!(
                            "no job was running: the job starts from savepoint {sp}, which this update's stop took"
                        ),
                    ),
                    _ => {}
                }
                return Ok(restore);
            }
            Next::Keep => {
                let job = live.as_ref().map_or("", |j| j.id.as_str());
                self.event(
                    name,
                    &format!("job {job} was started by the interrupted run and runs the new version: kept"),
                );
                let restore = match upgrade {
                    Upgrade::Stateful => Restore::LatestState,
                    Upgrade::Stateless => Restore::None,
                };
                return Ok(restore);
            }
            Next::Stop { savepoint: true } => Stop::WithSavepoint,
            Next::Stop { savepoint: false } => Stop::Now,
        };
        let stopped = self.stop_from(name, dep, live, how).await?;
        if upgrade == Upgrade::Stateless {
            return Ok(Restore::None);
        }
        let taken = match &stopped {
            Some(job) => self.vvp.stop_savepoint(dep, job).await?,
            None => None,
        };
        let Some(sp) = taken else {
            let why =
                stopped.map_or("no job was running".to_string(), |j| format!("stopping job {j} left no savepoint"));
            self.event(name, &format!("{why}: the job starts from its latest state"));
            return Ok(Restore::LatestState);
        };
        self.update_pending(name, |pending| pending.savepoint_id = Some(sp.clone())).await?;
        self.event(name, &format!("savepoint {sp} taken"));
        Ok(Restore::FromSavepoint(sp))
    }

    /// Stops every live job of the deployment and waits until they stopped; the last
    /// job it saw live, if any.
    pub(super) async fn stop_all(&self, name: &str, dep: &str, how: Stop) -> Res<Option<String>> {
        let live = self.vvp.live_job(dep).await?;
        self.stop_from(name, dep, live, how).await
    }

    /// [`Self::stop_all`], from the live job just seen (`None`: none).
    pub(super) async fn stop_from(
        &self,
        name: &str,
        dep: &str,
        seen: Option<RemoteJob>,
        how: Stop,
    ) -> Res<Option<String>> {
        let deadline = Instant::now() + self.timeouts.stop;
        let mut last = String::new();
        let mut seen = Some(seen);
        let stopped = poll_until(deadline, Backoff::STEADY, async || {
            let live = match seen.take() {
                Some(first) => first,
                None => self.vvp.live_job(dep).await?,
            };
            let Some(job) = live else { return Ok(Break(())) };
            self.check_cancel()?;
            if job.state != JobState::Cancelling {
                self.step(name, Step::Stop, &format!("stopping job {} ({})", job.id, how.name())).await?;
                self.vvp.stop(&job.id, how).await?;
            }
            last = job.id;
            Ok::<_, Error>(Continue(()))
        })
        .await?;
        stopped.ok_or_else(|| took_too_long(format!("job {last} did not stop"), self.timeouts.stop))?;
        Ok((!last.is_empty()).then_some(last))
    }
}
