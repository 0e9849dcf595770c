"""Airflow's REST API, directly over HTTP or through MWAA's ``InvokeRestApi``: one small client for the package.

Airflow 3 serves API v2, Airflow 2 API v1; callers differ only by the root, the date filter and v1 rejecting
unknown query parameters (:data:`API_VERSIONS`). Both transports take paths relative to the API root
(``/dags/...``), as ``InvokeRestApi`` does. Used by the race report and by the scale-in backlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

PAGE = 100


@dataclass(frozen=True)
class ApiVersion:
    """What differs between Airflow's REST API versions for this package's calls.

    :param root: path of the API root on the API server (v2) or webserver (v1).
    :param since_param: query parameter filtering runs by logical date.
    :param filters_task_id: whether the task instance list accepts ``task_id`` (v1 rejects unknown parameters).
    """

    root: str
    since_param: str
    filters_task_id: bool


API_VERSIONS = {
    "v2": ApiVersion("/api/v2", "logical_date_gte", filters_task_id=True),
    "v1": ApiVersion("/api/v1", "execution_date_gte", filters_task_id=False),
}


class NotFound(LookupError):
    """The API answered 404."""


class Transport(Protocol):
    api: ApiVersion

    def get(self, path: str, params: dict[str, Any]) -> dict:
        """GET ``path`` (relative to the API root) and return the decoded JSON body; raise NotFound on 404."""


class HttpTransport:
    """Airflow's REST API over HTTP.

    :param client: an ``httpx.Client`` whose ``base_url`` is the API server or webserver, auth set on it.
    :param api_version: ``"v2"`` (Airflow 3) or ``"v1"`` (Airflow 2).
    """

    def __init__(self, client: httpx.Client, api_version: str = "v2") -> None:
        self.client = client
        self.api = API_VERSIONS[api_version]

    @classmethod
    def connect(
        cls,
        base_url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        api_version: str = "v2",
    ) -> HttpTransport:
        """Client for ``base_url``, authenticated by bearer ``token`` or by ``username``/``password``.

        :param base_url: API server (Airflow 3) or webserver (Airflow 2) URL, e.g. ``http://localhost:8080``.
        :param token: bearer token, if already known.
        :param username: user; v2 trades it for a JWT at ``/auth/token``, v1 sends it as basic auth.
        :param password: that user's password.
        :param api_version: ``"v2"`` or ``"v1"``.
        """
        import httpx

        client = httpx.Client(base_url=base_url, timeout=30)
        if token is None and username and api_version == "v1":
            client.auth = (username, password or "")
        elif token is None and username:
            response = client.post("/auth/token", json={"username": username, "password": password})
            response.raise_for_status()
            token = response.json()["access_token"]
        if token:
            client.headers["Authorization"] = f"Bearer {token}"
        return cls(client, api_version)

    def get(self, path: str, params: dict[str, Any]) -> dict:
        response = self.client.get(f"{self.api.root}{path}", params=params)
        if response.status_code == 404:
            raise NotFound(path)
        response.raise_for_status()
        return response.json()


class MwaaTransport:
    """The API of an MWAA environment through ``mwaa:InvokeRestApi`` (IAM auth, no web login).

    :param environment: MWAA environment name.
    :param aws_conn_id: Airflow AWS connection; ``None`` uses boto3's default credential chain.
    :param region_name: AWS region of the environment.
    :param api_version: ``"v2"`` for Airflow 3 environments, ``"v1"`` for Airflow 2 ones.
    """

    def __init__(
        self,
        environment: str,
        aws_conn_id: str | None = None,
        region_name: str | None = None,
        api_version: str = "v2",
    ) -> None:
        self.environment = environment
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.api = API_VERSIONS[api_version]
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="mwaa", region_name=self.region_name)
            client = hook.conn
            if not hasattr(client, "invoke_rest_api"):
                import botocore

                raise RuntimeError(
                    f"MWAA InvokeRestApi needs botocore >= 1.35.74 (installed: {botocore.__version__}); "
                    "upgrade boto3/botocore or use --db-url / --api-url"
                )
            self._client = client
        return self._client

    def get(self, path: str, params: dict[str, Any]) -> dict:
        from botocore.exceptions import ClientError

        try:
            response = self.client.invoke_rest_api(
                Name=self.environment, Path=path, Method="GET", QueryParameters=params
            )
        except ClientError as err:
            if err.response.get("RestApiStatusCode") == 404:
                raise NotFound(path) from err
            raise
        return response["RestApiResponse"]


def pages(transport: Transport, path: str, key: str, params: dict[str, Any]) -> Iterable[dict]:
    """Every item under ``key`` of a paged list endpoint (``limit``/``offset``, ``total_entries``)."""
    params = {k: v for k, v in params.items() if v is not None}
    offset = 0
    while True:
        body = transport.get(path, {**params, "limit": PAGE, "offset": offset})
        items = body.get(key, [])
        yield from items
        offset += len(items)
        if not items or offset >= body.get("total_entries", 0):
            return
