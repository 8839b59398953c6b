//! The hot update: new parallelism or checkpoint settings taken by the running job
//! (UpdateDeployment, then HotUpdateJob) without a stop, a savepoint or a new job id.

use std::ops::ControlFlow::{Break, Continue};

use tokio::time::Instant;

use flinkform_core::state::{self, Operation, Pending, PipelineState, Step};
use vvp_api::{HotUpdateState, JobState};

use super::steps::took_too_long;
use super::{Done, Error, Executor, Res, Vvp};
use crate::poll::{Backoff, poll_until};

impl<V: Vvp> Executor<'_, V> {
    /// Sets the deployment's new settings, then has its running job take them. The
    /// job is looked at before HotUpdateJob is sent (a resumed or retried run finds it
    /// already updated), and HotUpdateJob is sent again only when a look shows the
    /// first send did not take. A job that is not RUNNING fails the pipeline: the plan
    /// named no restart.
    pub(super) async fn hot_update(&self, name: &str, before: &PipelineState, after: &PipelineState) -> Res<()> {
        let dep = before.remote.deployment_id.clone().expect("checked by the caller");
        self.update(name, |p| {
            p.status = state::Status::Applying;
            p.pending = Some(Pending::new(Operation::HotUpdate, Step::Configure));
        })
        .await?;
        self.configure(name, &dep, after).await?;
        if self.intent(name).await == state::Intent::Stopped {
            return self.finish_as(name, after, Operation::HotUpdate, state::Status::Stopped, Done::Stopped).await;
        }
        let running = |j: &vvp_api::RemoteJob| j.state == JobState::Running;
        let Some(job) = self.vvp.live_job(&dep).await?.filter(running) else {
            // Recorded failed: the next plan names the restart that repairs it.
            return Err(self.not_hot(name, "its job is not RUNNING on VVP", state::Status::Failed).await?);
        };
        let hot = |j: &vvp_api::RemoteJob| after.deploy.hot_settings_match(j.parallelism, &j.flink_conf);
        if !hot(&job) {
            self.step(name, Step::HotUpdate, &format!("hot-updating job {} (HotUpdateJob)", job.id)).await?;
            let sent = match self.vvp.hot_update(&job.id).await {
                Ok(h) => Some(h),
                // A lost answer: look before sending again.
                Err(e) if e.may_have_taken_effect() => match self.vvp.job(&job.id).await? {
                    j if hot(&j) => None,
                    _ if e.transient() => Some(self.vvp.hot_update(&job.id).await?),
                    _ => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            };
            if let Some(h) = sent {
                self.await_hot_update(name, &h.id, h.state).await?;
            }
            let now = self.vvp.job(&job.id).await?;
            if !running(&now) || !hot(&now) {
                let parallelism = now.parallelism.map_or("unknown".to_string(), |p| p.to_string());
                let what =
                    format!("job {} is {} with parallelism {parallelism} after its hot update", now.id, now.state);
                return Err(self.not_hot(name, &what, state::Status::Failed).await?);
            }
        }
        self.event(name, &format!("job {} runs with parallelism {}", job.id, after.deploy.parallelism));
        self.verify(name, &dep, &job.id, after.deploy.verify_secs).await?;
        self.finish(name, after, Operation::HotUpdate).await
    }

    /// Waits until VVP says the hot update is done.
    async fn await_hot_update(&self, name: &str, id: &str, first: HotUpdateState) -> Res<()> {
        let mut state = first;
        let deadline = Instant::now() + self.timeouts.start;
        loop {
            match state {
                HotUpdateState::Done => return Ok(()),
                HotUpdateState::Failed(m) => {
                    let why = format!("VVP's hot update {id} failed: {m}");
                    return Err(self.not_hot(name, &why, state::Status::Running).await?);
                }
                HotUpdateState::Running(_) => {}
            }
            let next = poll_until(deadline, Backoff::GROWING, async || {
                self.check_cancel()?;
                Ok::<_, Error>(match self.vvp.hot_update_state(id).await? {
                    HotUpdateState::Running(_) => Continue(()),
                    s => Break(s),
                })
            })
            .await?;
            state =
                next.ok_or_else(|| took_too_long(format!("hot update {id} did not finish"), self.timeouts.start))?;
        }
    }

    /// A hot update that could not be done: nothing is restarted that the plan did not
    /// name; the pipeline keeps its recorded revision, recorded `status` (running, or
    /// failed when its job is not running) with the reason as its error, and the next
    /// plan asks again (or repairs).
    async fn not_hot(&self, name: &str, why: &str, status: state::Status) -> Res<Error> {
        let error = Error::NotHot(why.to_string());
        self.update(name, |p| {
            p.status = status;
            p.pending = None;
            p.error = Some(error.to_string());
        })
        .await?;
        Ok(error)
    }
}
