//! What the executor asks of VVP, as a small trait: the real [`Client`] answers it over
//! the wire, the unit tests with a scripted fake.

use std::future::Future;

use vvp_api::{
    Client, HotUpdate, HotUpdateState, RemoteDeployment, RemoteDraft, RemoteJob, Restore, Settings, Stop, TicketState,
    VvpError,
};

/// The domain operations apply carries a plan out with (see [`vvp_api::Client`] for
/// what each does on VVP).
pub trait Vvp: Sync {
    /// The deployment called `name`, if any.
    fn find_deployment(&self, name: &str) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>>;
    /// Pipeline `name`'s deployment with this id, `None` when it is gone for sure.
    fn deployment(&self, id: &str, name: &str) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>>;
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
    fn find_deployment(&self, name: &str) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>> {
        Client::find_deployment(self, name)
    }
    fn deployment(&self, id: &str, name: &str) -> impl Future<Output = Result<Option<RemoteDeployment>, VvpError>> {
        Client::recorded_deployment(self, id, name)
    }
    fn drafts(&self) -> impl Future<Output = Result<Vec<RemoteDraft>, VvpError>> {
        Client::drafts(self)
    }
    fn discard_draft(&self, id: &str) -> impl Future<Output = Result<(), VvpError>> {
        Client::discard_draft(self, id)
    }
    fn draft(&self, id: &str) -> impl Future<Output = Result<Option<RemoteDraft>, VvpError>> {
        Client::draft(self, id)
    }
    fn create_sql_draft(
        &self,
        name: &str,
        sql: &str,
        engine_version: &str,
        deployment: Option<&str>,
    ) -> impl Future<Output = Result<String, VvpError>> {
        Client::create_sql_draft(self, name, sql, engine_version, deployment)
    }
    fn deploy(&self, draft: &str, queue: &str) -> impl Future<Output = Result<String, VvpError>> {
        Client::deploy(self, draft, queue)
    }
    fn ticket(&self, ticket: &str) -> impl Future<Output = Result<TicketState, VvpError>> {
        Client::ticket(self, ticket)
    }
    fn configure(&self, name: &str, deployment: &str, p: &Settings) -> impl Future<Output = Result<bool, VvpError>> {
        Client::configure(self, name, deployment, p)
    }
    fn live_job(&self, deployment: &str) -> impl Future<Output = Result<Option<RemoteJob>, VvpError>> {
        Client::live_job(self, deployment)
    }
    fn start(
        &self,
        deployment: &str,
        restore: &Restore,
        queue: &str,
    ) -> impl Future<Output = Result<RemoteJob, VvpError>> {
        Client::start(self, deployment, restore, queue)
    }
    fn stop_savepoint(&self, deployment: &str, job: &str) -> impl Future<Output = Result<Option<String>, VvpError>> {
        Client::stop_savepoint(self, deployment, job)
    }
    fn job(&self, id: &str) -> impl Future<Output = Result<RemoteJob, VvpError>> {
        Client::job(self, id)
    }
    fn stop(&self, job: &str, how: Stop) -> impl Future<Output = Result<(), VvpError>> {
        Client::stop(self, job, how)
    }
    fn delete(&self, deployment: &str, name: &str) -> impl Future<Output = Result<(), VvpError>> {
        Client::delete(self, deployment, name)
    }
    fn hot_update(&self, job: &str) -> impl Future<Output = Result<HotUpdate, VvpError>> {
        Client::hot_update(self, job)
    }
    fn hot_update_state(&self, id: &str) -> impl Future<Output = Result<HotUpdateState, VvpError>> {
        Client::hot_update_state(self, id)
    }
    fn diagnosis(&self, deployment: &str, job: &str) -> impl Future<Output = Result<Vec<String>, VvpError>> {
        Client::diagnosis(self, deployment, job)
    }
}
