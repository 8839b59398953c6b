#!/usr/bin/env python3
"""Drives a VVP endpoint with Alibaba's official Python SDK (alibabacloud-ververica20220718),
unchanged: create draft -> deploy -> get deployment -> start -> get job -> list deployments
(paging, job summary) -> update the deployment and hot-update the job -> its diagnosis ->
stop -> list again -> list savepoints -> delete.

Usage: lifecycle.py HOST:PORT WORKSPACE NAMESPACE   (credentials from ALIBABA_CLOUD_ACCESS_KEY_ID
and ALIBABA_CLOUD_ACCESS_KEY_SECRET). Prints one line per step; exits 1 on the first failure.
"""
import os
import sys
import time

from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions
from alibabacloud_ververica20220718 import models as m
from alibabacloud_ververica20220718.client import Client


def main():
    endpoint, ws, ns = sys.argv[1:4]
    client = Client(Config(
        access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        endpoint=endpoint,
        protocol="http",
    ))
    rt = RuntimeOptions()

    def check(step, resp):
        body = resp.body
        if not body.success:
            print("FAIL %s: %s %s" % (step, body.error_code, body.error_message))
            sys.exit(1)
        print("ok %s" % step)
        return getattr(body, "data", None)

    name = "sdk lifecycle:%d" % os.getpid()   # a space and a colon: exercises path encoding
    draft = check("CreateDeploymentDraft", client.create_deployment_draft_with_options(
        ns, m.CreateDeploymentDraftRequest(body=m.DeploymentDraft(
            name=name,
            artifact=m.Artifact(kind="SQLSCRIPT", sql_artifact=m.SqlArtifact(sql_script="SELECT 1;")),
            engine_version="vvr-8.0.11-flink-1.17",
            execution_mode="STREAMING",
        )), m.CreateDeploymentDraftHeaders(workspace=ws), rt))
    ticket = check("DeployDeploymentDraftAsync", client.deploy_deployment_draft_async_with_options(
        ns, m.DeployDeploymentDraftAsyncRequest(body=m.DraftDeployParams(
            deployment_draft_id=draft.deployment_draft_id,
            deployment_target=m.BriefDeploymentTarget(mode="PER_JOB", name="default-queue"),
            skip_validate=False,
        )), m.DeployDeploymentDraftAsyncHeaders(workspace=ws), rt))
    for _ in range(100):
        result = check("GetDeployDeploymentDraftResult", client.get_deploy_deployment_draft_result_with_options(
            ns, ticket.ticket_id, m.GetDeployDeploymentDraftResultHeaders(workspace=ws), rt))
        if result.ticket_status in ("FINISHED", "FAILED"):
            break
        time.sleep(0.1)
    if not result.success or not result.deployment_id:
        print("FAIL deploy ticket: %s" % result.message)
        sys.exit(1)
    dep = check("GetDeployment", client.get_deployment_with_options(
        ns, result.deployment_id, m.GetDeploymentHeaders(workspace=ws), rt))
    assert dep.name == name, dep.name
    by_name = check("GetDeploymentsByName", client.get_deployments_by_name_with_options(
        ns, name, m.GetDeploymentsByNameRequest(ignore_job_summary=True, ignore_resource_setting=False),
        m.GetDeploymentsByNameHeaders(workspace=ws), rt))
    assert [d.deployment_id for d in by_name] == [dep.deployment_id], by_name
    job = check("StartJobWithParams", client.start_job_with_params_with_options(
        ns, m.StartJobWithParamsRequest(body=m.JobStartParameters(
            deployment_id=dep.deployment_id,
            restore_strategy=m.DeploymentRestoreStrategy(kind="NONE"),
        )), m.StartJobWithParamsHeaders(workspace=ws), rt))
    for _ in range(100):
        job = check("GetJob", client.get_job_with_options(ns, job.job_id, m.GetJobHeaders(workspace=ws), rt))
        if job.status.current_job_status != "STARTING":
            break
        time.sleep(0.1)
    assert job.status.current_job_status == "RUNNING", job.status.current_job_status

    def listed(step, summary):
        """ListDeployments by name (API reference: pages of `pageSize`, 1 to 100): the
        paging the SDK parses and the deployment's job counts."""
        resp = client.list_deployments_with_options(
            ns, m.ListDeploymentsRequest(name=name, page_index=1, page_size=100),
            m.ListDeploymentsHeaders(workspace=ws), rt)
        found = check(step, resp)
        body = resp.body
        assert (body.page_index, body.page_size, body.total_size) == (1, 100, 1), body.to_map()
        assert [d.deployment_id for d in found] == [dep.deployment_id], body.to_map()
        s = found[0].job_summary
        got = dict(starting=s.starting, running=s.running, cancelling=s.cancelling, cancelled=s.cancelled,
                   finished=s.finished, failed=s.failed)
        assert got == dict(dict.fromkeys(got, 0), **summary), got

    listed("ListDeployments", {"running": 1})
    # A filter the emulator does not model is refused, never answered as if it were not set.
    refused = client.list_deployments_with_options(
        ns, m.ListDeploymentsRequest(status="RUNNING"), m.ListDeploymentsHeaders(workspace=ws), rt).body
    assert not refused.success and refused.error_code == "InvalidParameter", refused.to_map()
    print("ok unmodelled filter refused")
    # A dynamic update: the deployment takes a new parallelism, the running job takes it
    # from there (HotUpdateJob has no body), keeping its id.
    check("UpdateDeployment", client.update_deployment_with_options(
        ns, dep.deployment_id, m.UpdateDeploymentRequest(body=m.Deployment(
            streaming_resource_setting=m.StreamingResourceSetting(
                resource_setting_mode="BASIC",
                basic_resource_setting=m.BasicResourceSetting(parallelism=3)),
        )), m.UpdateDeploymentHeaders(workspace=ws), rt))
    hot = check("HotUpdateJob", client.hot_update_job_with_options(
        ns, job.job_id, m.HotUpdateJobHeaders(workspace=ws), rt))
    assert hot.job_id == job.job_id, hot.job_id
    # The update is asynchronous: its result is asked for until it is done.
    for _ in range(100):
        hot = check("GetHotUpdateJobResult", client.get_hot_update_job_result_with_options(
            ns, hot.job_hot_update_id, m.GetHotUpdateJobResultHeaders(workspace=ws), rt))
        if hot.status.status == "HOT_UPDATED" or hot.status.failure is not None:
            break
        time.sleep(0.1)
    assert hot.status.status == "HOT_UPDATED", hot.status.status
    job = check("GetJob", client.get_job_with_options(ns, job.job_id, m.GetJobHeaders(workspace=ws), rt))
    assert job.status.current_job_status == "RUNNING", job.status.current_job_status
    assert job.streaming_resource_setting.basic_resource_setting.parallelism == 3, job.streaming_resource_setting
    diagnosis = check("GetJobDiagnosis", client.get_job_diagnosis_with_options(
        ns, dep.deployment_id, job.job_id, m.GetJobDiagnosisHeaders(workspace=ws), rt))
    assert diagnosis.risk_level == "LOW" and diagnosis.symptoms.startup == [], diagnosis.to_map()
    check("StopJob", client.stop_job_with_options(
        ns, job.job_id, m.StopJobRequest(body=m.StopJobRequestBody(stop_strategy="STOP_WITH_SAVEPOINT")),
        m.StopJobHeaders(workspace=ws), rt))
    for _ in range(100):
        job = check("GetJob", client.get_job_with_options(ns, job.job_id, m.GetJobHeaders(workspace=ws), rt))
        if job.status.current_job_status == "CANCELLED":
            break
        time.sleep(0.1)
    assert job.status.current_job_status == "CANCELLED", job.status.current_job_status
    listed("ListDeployments", {"cancelled": 1})
    taken = check("ListSavepoints", client.list_savepoints_with_options(
        ns, m.ListSavepointsRequest(deployment_id=dep.deployment_id, job_id=job.job_id, page_index=1, page_size=10),
        m.ListSavepointsHeaders(workspace=ws), rt))
    assert [(s.savepoint_origin, s.status.state) for s in taken] == [("STOP_WITH_SAVEPOINT", "COMPLETED")], taken
    check("DeleteDeployment", client.delete_deployment_with_options(
        ns, dep.deployment_id, m.DeleteDeploymentHeaders(workspace=ws), rt))
    # A wrong secret is refused by the signature check, as the gateway does.
    bad = Client(Config(access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], access_key_secret="wrong",
                        endpoint=endpoint, protocol="http"))
    try:
        bad.get_deployment_with_options(ns, dep.deployment_id, m.GetDeploymentHeaders(workspace=ws), rt)
        print("FAIL a wrong secret was accepted")
        sys.exit(1)
    except Exception as e:  # the SDK's ClientException
        if getattr(e, "code", None) != "SignatureDoesNotMatch":
            print("FAIL wrong secret: %r" % e)
            sys.exit(1)
        print("ok wrong secret refused: SignatureDoesNotMatch")
    print("lifecycle complete")


if __name__ == "__main__":
    main()
