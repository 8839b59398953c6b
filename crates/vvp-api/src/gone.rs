//! Lookups whose "not found" is confirmed before anyone acts on it. No Alibaba source
//! enumerates VVP's error codes (`990301` is the one its Terraform provider takes as not
//! found), so an answer that may mean "gone" ([`VvpError::may_be_gone`]) counts only when
//! a listing, which answers "none" with an empty page, does not show the resource either.

use vvp_wire::wire::Deployment;

use crate::{Client, PIPELINE_LABEL, RemoteJob, VvpError, job_of};

impl Client {
    /// Whether VVP lists deployment `id` by the name `pipeline` or by its label.
    pub(crate) async fn deployment_listed(&self, id: &str, pipeline: &str) -> Result<bool, VvpError> {
        let has = |listed: Vec<Deployment>| listed.iter().any(|d| d.deployment_id.as_deref() == Some(id));
        // Any deployment the name filter lists counts, whatever its name: the id decides.
        Ok(has(self.deployments_named(pipeline).await?)
            || has(self.deployments_with_label(PIPELINE_LABEL, pipeline).await?))
    }

    pub(crate) async fn draft_listed(&self, id: &str) -> Result<bool, VvpError> {
        Ok(self.list_drafts().await?.iter().any(|d| d.deployment_draft_id.as_deref() == Some(id)))
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
