//! The domain operations apply carries a plan out with ([`Vvp`]), as the client does
//! them on VVP: each looks before it acts where VVP leaves a doubt, and a "not found"
//! counts only once a listing confirms it (`gone`).

use std::future::Future;

use vvp_wire::wire::{
    Artifact, BasicResourceSetting, Deployment, DeploymentDraft, DeploymentTarget, DraftDeployParams,
    JobStartParameters, RestoreStrategy, SqlArtifact, StreamingResourceSetting,
};

use crate::{
    Client, HotUpdate, HotUpdateState, MANAGED_BY, PIPELINE_LABEL, PROJECT_LABEL, RemoteDeployment, RemoteDraft,
    RemoteJob, Restore, Settings, Stop, TicketState, VvpError, hot_update_of, job_of, remote_draft, remote_of, spec,
    unknown_status,
};

/// The domain operations apply carries a plan out with. [`Client`] does them on VVP; a
/// test gives the executor a fake.
pub trait Vvp: Sync {
    /// The deployment called `name`, if any.
    fn find_deployment(&self, name: &str) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>>;
    /// Pipeline `name`'s deployment with this id, `None` when it is gone for sure.
    fn recorded_deployment(
        &self,
        id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>>;
    /// Every draft this project made, of every pipeline.
    fn drafts(&self) -> impl Future<Output = Result<Vec<RemoteDraft>, VvpError>>;
    /// Deletes a draft (one already gone counts as deleted).
    fn discard_draft(&self, id: &str) -> impl Future<Output = Result<(), VvpError>>;
    /// A draft, `None` when it is gone.
    fn draft(&self, id: &str) -> impl Future<Output = Result<Option<RemoteDraft>, VvpError>>;
    /// Creates a SQL draft for pipeline `name` (linked to `deployment`, to update it).
    fn create_sql_draft(
        &self,
        name: &str,
        sql: &str,
        engine_version: &str,
        deployment: Option<&str>,
    ) -> impl Future<Output = Result<String, VvpError>>;
    /// Starts deploying a draft; the ticket.
    fn deploy(&self, draft: &str, queue: &str) -> impl Future<Output = Result<String, VvpError>>;
    /// Where a deploy ticket is.
    fn ticket(&self, ticket: &str) -> impl Future<Output = Result<TicketState, VvpError>>;
    /// Sets pipeline `name`'s deployment: resources, Flink configuration, queue, labels;
    /// whether VVP's answer leaves room for a live job (its job summary).
    fn configure(&self, name: &str, deployment: &str, p: &Settings) -> impl Future<Output = Result<bool, VvpError>>;
    /// The deployment's job that is not stopped, if any.
    fn live_job(&self, deployment: &str) -> impl Future<Output = Result<Option<RemoteJob>, VvpError>>;
    /// Starts a job of the deployment.
    fn start(
        &self,
        deployment: &str,
        restore: &Restore,
        queue: &str,
    ) -> impl Future<Output = Result<RemoteJob, VvpError>>;
    /// The completed savepoint that stopping `job` with a savepoint took, if any.
    fn stop_savepoint(&self, deployment: &str, job: &str) -> impl Future<Output = Result<Option<String>, VvpError>>;
    /// A job.
    fn job(&self, id: &str) -> impl Future<Output = Result<RemoteJob, VvpError>>;
    /// Asks a job to stop.
    fn stop(&self, job: &str, how: Stop) -> impl Future<Output = Result<(), VvpError>>;
    /// Deletes pipeline `name`'s deployment (one already gone counts as deleted).
    fn delete(&self, deployment: &str, name: &str) -> impl Future<Output = Result<(), VvpError>>;
    /// Asks the running job to take its deployment's new hot-updatable settings.
    fn hot_update(&self, job: &str) -> impl Future<Output = Result<HotUpdate, VvpError>>;
    /// Where a hot update is.
    fn hot_update_state(&self, id: &str) -> impl Future<Output = Result<HotUpdateState, VvpError>>;
    /// VVP's diagnosis of a job (its startup and runtime symptoms).
    fn diagnosis(&self, deployment: &str, job: &str) -> impl Future<Output = Result<Vec<String>, VvpError>>;
}

impl Vvp for Client {
    /// The deployment called `name`, if any, and whether flinkform made it for `name`.
    /// Listed (ListDeployments by name), not asked for (GetDeploymentsByName): a listing
    /// answers "none" with an empty page, where a lookup may answer not found; and only
    /// the exact name counts, whether or not the filter matches parts of names.
    async fn find_deployment(&self, name: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        let named = self.deployments_named(name).await?.into_iter().find(|d| d.name.as_deref() == Some(name));
        Ok(named.map(|d| remote_of(d, self.project())))
    }

    /// Creates a SQL draft for pipeline `name` (linked to `deployment`, to update it).
    async fn create_sql_draft(
        &self,
        name: &str,
        sql: &str,
        engine_version: &str,
        deployment: Option<&str>,
    ) -> Result<String, VvpError> {
        let draft = DeploymentDraft {
            name: Some(name.into()),
            artifact: Some(Artifact {
                kind: "SQLSCRIPT".into(),
                sql_artifact: Some(SqlArtifact { sql_script: sql.into(), additional_dependencies: Vec::new() }),
            }),
            engine_version: Some(engine_version.into()),
            execution_mode: Some("STREAMING".into()),
            referenced_deployment_id: deployment.map(str::to_string),
            labels: Some(self.labels(name)),
            ..Default::default()
        };
        let d = self.create_draft(&draft).await?;
        d.deployment_draft_id.ok_or_else(|| VvpError::Decode {
            action: "CreateDeploymentDraft".into(),
            message: "no deploymentDraftId".into(),
        })
    }

    /// Every draft this project made (labels say so), of every pipeline.
    async fn drafts(&self) -> Result<Vec<RemoteDraft>, VvpError> {
        let ours = |d: &DeploymentDraft| {
            let labels = d.labels.clone().unwrap_or_default();
            labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
                && labels.get(PIPELINE_LABEL) == d.name.as_ref()
                && labels.get(PROJECT_LABEL).map(String::as_str) == self.project()
        };
        Ok(self.list_drafts().await?.into_iter().filter(ours).map(remote_draft).collect())
    }

    /// Starts deploying a draft; returns the ticket.
    async fn deploy(&self, draft_id: &str, queue: &str) -> Result<String, VvpError> {
        self.deploy_draft(&DraftDeployParams {
            deployment_draft_id: draft_id.into(),
            deployment_target: Some(DeploymentTarget { mode: Some("PER_JOB".into()), name: queue.into() }),
            skip_validate: false,
        })
        .await
    }

    /// Where a deploy ticket is.
    async fn ticket(&self, ticket: &str) -> Result<TicketState, VvpError> {
        let r = self.deploy_result(ticket).await?;
        Ok(match r.ticket_status.as_str() {
            "FINISHED" | "FAILED" => match (r.success, r.deployment_id) {
                (true, Some(id)) if !id.is_empty() => TicketState::Deployed(id),
                _ => {
                    let mut m = r.message.unwrap_or_default();
                    if let Some(d) = r.artifact_validation_detail.and_then(|v| v.error_details) {
                        m.push_str(&format!(
                            " (line {}, column {}: {})",
                            d.line_number.unwrap_or_default(),
                            d.column_number.unwrap_or_default(),
                            d.message.unwrap_or_default()
                        ));
                    }
                    TicketState::Failed(m)
                }
            },
            "EXECUTING" => TicketState::Running,
            other => return Err(unknown_status("GetDeployDeploymentDraftResult", other)),
        })
    }

    /// Sets pipeline `name`'s deployment: resources, Flink configuration, queue and
    /// labels (idempotent PUT). Answers whether the deployment may have a live job: its
    /// job summary in VVP's answer counts one starting, running or cancelling, or the
    /// answer has no summary.
    async fn configure(&self, name: &str, deployment: &str, p: &Settings) -> Result<bool, VvpError> {
        let d = Deployment {
            deployment_target: Some(DeploymentTarget { mode: Some("PER_JOB".into()), name: p.resource_queue.clone() }),
            streaming_resource_setting: Some(StreamingResourceSetting {
                resource_setting_mode: "BASIC".into(),
                basic_resource_setting: Some(BasicResourceSetting {
                    parallelism: Some(p.parallelism as i64),
                    jobmanager_resource_setting_spec: p.jobmanager.as_ref().map(spec),
                    taskmanager_resource_setting_spec: p.taskmanager.as_ref().map(spec),
                }),
            }),
            flink_conf: Some(
                p.flink_conf.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
            ),
            labels: Some(self.labels(name)),
            ..Default::default()
        };
        let answered = self.update_deployment(deployment, &d).await?;
        Ok(answered.job_summary.is_none_or(|s| s.starting + s.running + s.cancelling > 0))
    }

    /// The deployment's job that is not stopped, if any.
    async fn live_job(&self, deployment: &str) -> Result<Option<RemoteJob>, VvpError> {
        for j in self.jobs(deployment).await? {
            let j = job_of(j)?;
            if j.state.live() {
                return Ok(Some(j));
            }
        }
        Ok(None)
    }

    /// Starts a job of the deployment on `queue`.
    async fn start(&self, deployment: &str, restore: &Restore, queue: &str) -> Result<RemoteJob, VvpError> {
        let p = JobStartParameters {
            deployment_id: deployment.into(),
            local_variables: Vec::new(),
            restore_strategy: Some(RestoreStrategy {
                kind: restore.name().into(),
                savepoint_id: match restore {
                    Restore::FromSavepoint(id) => Some(id.clone()),
                    _ => None,
                },
                ..Default::default()
            }),
            resource_queue_name: Some(queue.into()),
        };
        job_of(self.start_job(&p).await?)
    }

    /// The savepoint that stopping `job` with a savepoint took, once completed.
    async fn stop_savepoint(&self, deployment: &str, job: &str) -> Result<Option<String>, VvpError> {
        let taken = self.savepoints(deployment, job).await?.into_iter().filter(|s| {
            s.job_id.as_deref() == Some(job)
                && s.savepoint_origin.as_deref() == Some("STOP_WITH_SAVEPOINT")
                && s.status.as_ref().is_some_and(|st| st.state == "COMPLETED")
        });
        Ok(taken.max_by_key(|s| s.created_at).map(|s| s.savepoint_id))
    }

    /// A job.
    async fn job(&self, id: &str) -> Result<RemoteJob, VvpError> {
        job_of(self.get_job(id).await?)
    }

    /// Asks a job to stop.
    async fn stop(&self, id: &str, how: Stop) -> Result<(), VvpError> {
        self.stop_job(id, how.name()).await.map(drop)
    }

    /// Asks the running job to take its deployment's new parallelism and checkpoint
    /// settings without a restart.
    async fn hot_update(&self, job: &str) -> Result<HotUpdate, VvpError> {
        Ok(hot_update_of(self.hot_update_job(job).await?))
    }

    /// Where a hot update is.
    async fn hot_update_state(&self, id: &str) -> Result<HotUpdateState, VvpError> {
        Ok(hot_update_of(self.hot_update_job_result(id).await?).state)
    }

    /// VVP's diagnosis of a job: its startup and runtime symptoms, each as
    /// `name: description (recommendation)`; empty when it found none.
    async fn diagnosis(&self, deployment: &str, job: &str) -> Result<Vec<String>, VvpError> {
        let d = self.job_diagnosis(deployment, job).await?;
        let s = d.symptoms.unwrap_or_default();
        Ok(s.startup
            .into_iter()
            .chain(s.runtime)
            .map(|x| {
                let mut t = if x.name.is_empty() { x.description } else { format!("{}: {}", x.name, x.description) };
                if let Some(r) = x.recommendation.filter(|r| !r.is_empty()) {
                    t.push_str(&format!(" ({r})"));
                }
                t
            })
            .collect())
    }

    /// Pipeline `pipeline`'s recorded deployment `id`; `None` only when it is gone for
    /// sure: VVP refused the lookup and lists no deployment with this id by the name
    /// or by the pipeline's label (after `state mv` the two differ). An answer nobody
    /// documented thus never reads as "gone", and a deleted deployment never wedges.
    async fn recorded_deployment(&self, id: &str, pipeline: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        match self.get_deployment(id).await {
            Ok(d) => Ok(Some(remote_of(d, self.project()))),
            Err(e) if e.may_be_gone() && !self.deployment_listed(id, pipeline).await? => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a draft; one that is already gone (the listing has no such draft)
    /// counts as deleted.
    async fn discard_draft(&self, id: &str) -> Result<(), VvpError> {
        match self.delete_draft(id).await {
            Err(e) if e.may_be_gone() && !self.draft_listed(id).await? => Ok(()),
            r => r,
        }
    }

    /// A draft (`None` when it is gone: the listing has no such draft).
    async fn draft(&self, id: &str) -> Result<Option<RemoteDraft>, VvpError> {
        match self.get_draft(id).await {
            Ok(d) => Ok(Some(remote_draft(d))),
            Err(e) if e.may_be_gone() && !self.draft_listed(id).await? => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes pipeline `pipeline`'s deployment; one that is already gone (see
    /// [`Client::recorded_deployment`]) counts as deleted.
    async fn delete(&self, deployment: &str, pipeline: &str) -> Result<(), VvpError> {
        match self.delete_deployment(deployment).await {
            Err(e) if e.may_be_gone() && !self.deployment_listed(deployment, pipeline).await? => Ok(()),
            r => r,
        }
    }
}
