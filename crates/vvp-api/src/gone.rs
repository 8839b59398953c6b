//! Lookups whose "not found" is confirmed before anyone acts on it. No Alibaba source
//! enumerates VVP's error codes (`990301` is the one its Terraform provider takes as not
//! found), so an answer that may mean "gone" ([`VvpError::may_be_gone`]) counts only when
//! a listing, which answers "none" with an empty page, does not show the resource either.

use vvp_wire::wire::Deployment;

use crate::{
    Client, PIPELINE_LABEL, RemoteDeployment, RemoteDraft, RemoteJob, VvpError, job_of, remote_draft, remote_of,
};

impl Client {
    /// Pipeline `pipeline`'s recorded deployment `id`; `None` only when it is gone for
    /// sure: VVP refused the lookup and lists no deployment with this id by the name
    /// or by the pipeline's label (after `state mv` the two differ). An answer nobody
    /// documented thus never reads as "gone", and a deleted deployment never wedges.
    pub async fn recorded_deployment(&self, id: &str, pipeline: &str) -> Result<Option<RemoteDeployment>, VvpError> {
        match self.get_deployment(id).await {
            Ok(d) => Ok(Some(remote_of(d, self.project()))),
            Err(e) if e.may_be_gone() && !self.deployment_listed(id, pipeline).await? => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether VVP lists deployment `id` by the name `pipeline` or by its label.
    async fn deployment_listed(&self, id: &str, pipeline: &str) -> Result<bool, VvpError> {
        let has = |listed: Vec<Deployment>| listed.iter().any(|d| d.deployment_id.as_deref() == Some(id));
        // Any deployment the name filter lists counts, whatever its name: the id decides.
        Ok(has(self.deployments_named(pipeline).await?)
            || has(self.deployments_with_label(PIPELINE_LABEL, pipeline).await?))
    }

    /// Deletes a draft; one that is already gone (the listing has no such draft)
    /// counts as deleted.
    pub async fn discard_draft(&self, id: &str) -> Result<(), VvpError> {
        match self.delete_draft(id).await {
            Err(e) if e.may_be_gone() && !self.draft_listed(id).await? => Ok(()),
            r => r,
        }
    }

    /// A draft (`None` when it is gone: the listing has no such draft).
    pub async fn draft(&self, id: &str) -> Result<Option<RemoteDraft>, VvpError> {
        match self.get_draft(id).await {
            Ok(d) => Ok(Some(remote_draft(d))),
            Err(e) if e.may_be_gone() && !self.draft_listed(id).await? => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn draft_listed(&self, id: &str) -> Result<bool, VvpError> {
        Ok(self.list_drafts().await?.iter().any(|d| d.deployment_draft_id.as_deref() == Some(id)))
    }

    /// Deletes pipeline `pipeline`'s deployment; one that is already gone (see
    /// [`Client::recorded_deployment`]) counts as deleted.
    pub async fn delete(&self, deployment: &str, pipeline: &str) -> Result<(), VvpError> {
        match self.delete_deployment(deployment).await {
            Err(e) if e.may_be_gone() && !self.deployment_listed(deployment, pipeline).await? => Ok(()),
            r => r,
        }
    }

    /// Job `id` of deployment `deployment`; `None` when it is gone for sure (VVP refused
    /// the lookup and the deployment's jobs do not list it).
    pub async fn recorded_job(&self, id: &str, deployment: &str) -> Result<Option<RemoteJob>, VvpError> {
        match self.get_job(id).await {
            Ok(j) => job_of(j).map(Some),
            Err(e) if e.may_be_gone() => {
                let listed = self.jobs(deployment).await?.iter().any(|j| j.job_id == id);
                if listed { Err(e) } else { Ok(None) }
            }
            Err(e) => Err(e),
        }
    }
}
