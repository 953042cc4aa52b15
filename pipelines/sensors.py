"""Sensors: the warehouse rebuilds after raw data lands."""


import dagster as dg

from pipelines.jobs import raw_job, warehouse_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[raw_job],
    request_job=warehouse_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When raw ingestion succeeds, rebuild staging, reconciliation and marts.",
)
def warehouse_after_raw(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"warehouse-after-{context.dagster_run.run_id}")
