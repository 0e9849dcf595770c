"""Extra links of the Fargate operator: the ECS task in the console, and its CloudWatch log stream.

Invariant: each link is one XCom record, ``_link_<class name>`` holding the URL, written as soon as the task ARN is
known (right after RunTask or the reattach), so the UI shows it for the whole run, in both modes:

- Airflow 3's UI reads that record straight from the metadata database (``XComOperatorLink``); the Task SDK
  writes it (``BaseOperatorLink.xcom_key``, bypassing a custom XCom backend) only when the task ends or defers,
  by calling :meth:`get_link`, which reads our record back, so it rewrites the same URL under the same key.
- Airflow 2's webserver calls :meth:`get_link` when the page is viewed, which reads the record.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_ecsops.compat import BaseOperatorLink

CONSOLE_DOMAINS = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}


def _console_escape(value: str) -> str:
    """The CloudWatch console's fragment escaping: URL-quote, then write '%' as '$25'."""
    return quote(value, safe="").replace("%", "$25")


def _base(region: str, partition: str) -> str:
    domain = CONSOLE_DOMAINS.get(partition, CONSOLE_DOMAINS["aws"])
    return f"https://{region}.console.{domain}"


def _write_record(ti: Any, key: str, url: str) -> None:
    """Write the link record where the running Airflow's UI reads it, now."""
    from airflow_provider_ecsops.compat import AIRFLOW_V_3

    if AIRFLOW_V_3:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        if isinstance(ti, RuntimeTaskInstance):
            from airflow_provider_ecsops.compat import XCom

            # What the Task SDK's finalize does for link records: the metadata DB, not a custom XCom backend,
            # because the API server reads them from there.
            XCom._set_xcom_in_db(
                key=key,
                value=url,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
            return
    ti.xcom_push(key=key, value=url)


class _XComLink(BaseOperatorLink):
    """A link whose URL the operator stored in the XCom record :attr:`xcom_key` while it ran."""

    name: ClassVar[str]

    @property
    def xcom_key(self) -> str:
        """The key of the link's record: Airflow 3's default (``_link_<class name>``, which the serialized DAG
        tells the API server to read), used on Airflow 2 as well."""
        return f"_link_{type(self).__name__}"

    def get_link(self, operator, *, ti_key) -> str:
        from airflow_provider_ecsops.compat import XCom

        try:
            value = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        except Exception:  # a link is a convenience: never break the UI over it
            return ""
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, ti: Any, url: str) -> None:
        _write_record(ti, cls().xcom_key, url)


class FargateTaskLink(_XComLink):
    name = "ECS Task"

    @staticmethod
    def url(*, region: str, partition: str, cluster: str, task_id: str) -> str:
        return (
            f"{_base(region, partition)}/ecs/v2/clusters/{quote(cluster, safe='')}/tasks/"
            f"{task_id}/configuration?region={region}"
        )


class FargateLogStreamLink(_XComLink):
    name = "Container Logs"

    @staticmethod
    def url(*, region: str, partition: str, log_region: str, group: str, stream: str) -> str:
        return (
            f"{_base(region, partition)}/cloudwatch/home?region={log_region}#logsV2:log-groups/log-group/"
            f"{_console_escape(group)}/log-events/{_console_escape(stream)}"
        )
