"""Extra links of the Fargate operator: the ECS task in the console, and its CloudWatch log stream."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_ecsops.compat import BaseOperatorLink

CONSOLE_DOMAINS = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}


def _console_escape(value: str) -> str:
    """The CloudWatch console's fragment escaping: URL-quote, then write '%' as '$25'."""
    return quote(value, safe="").replace("%", "$25")


class _XComLink(BaseOperatorLink):
    """A link whose URL parts the operator stored in XCom under :attr:`key` while it ran."""

    name: ClassVar[str]
    key: ClassVar[str]

    def get_link(self, operator, *, ti_key) -> str:
        from airflow_provider_ecsops.compat import XCom

        try:
            value = XCom.get_value(ti_key=ti_key, key=self.key)
        except Exception:  # a link is a convenience: never break the UI over it
            return ""
        return self.format(value) if value else ""

    def format(self, value: dict[str, Any]) -> str:
        raise NotImplementedError

    @staticmethod
    def base(value: dict[str, Any]) -> str:
        domain = CONSOLE_DOMAINS.get(value.get("partition", "aws"), CONSOLE_DOMAINS["aws"])
        return f"https://{value['region']}.console.{domain}"


class FargateTaskLink(_XComLink):
    name = "ECS Task"
    key = "ecsops_fargate_task_link"

    def format(self, value: dict[str, Any]) -> str:
        return (
            f"{self.base(value)}/ecs/v2/clusters/{quote(value['cluster'], safe='')}/tasks/"
            f"{value['task_id']}/configuration?region={value['region']}"
        )


class FargateLogStreamLink(_XComLink):
    name = "Container Logs"
    key = "ecsops_fargate_log_link"

    def format(self, value: dict[str, Any]) -> str:
        return (
            f"{self.base(value)}/cloudwatch/home?region={value['log_region']}#logsV2:log-groups/log-group/"
            f"{_console_escape(value['group'])}/log-events/{_console_escape(value['stream'])}"
        )
