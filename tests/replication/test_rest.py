"""The report's API sources: Airflow's own REST API in-process (v2 on Airflow 3, v1 on Airflow 2), and MWAA
InvokeRestApi (exact botocore shapes, answered with the real API's bodies)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from airflow_provider_ecsops.airflow_api import HttpTransport, MwaaTransport, NotFound
from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.rest import observations_from_api
from tests.capabilities import AIRFLOW_HAS_API_V2, BOTOCORE_HAS_INVOKE_REST_API
from tests.replication.helpers import FAKE_TASK_ARN, judge
from tests.replication.seed import EXPECTED, PREFIX


@pytest.fixture(scope="module")
def api(sqlite_plan):
    """Airflow's own API over the seeded SQLite DB, called in-process: the API server's v2 on Airflow 3, the
    webserver's v1 (basic auth, a Viewer user) on Airflow 2."""
    with pytest.MonkeyPatch.context() as mp:
        if AIRFLOW_HAS_API_V2:
            from fastapi.testclient import TestClient

            mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
            from airflow.api_fastapi.app import create_app

            yield HttpTransport(TestClient(create_app("core")), "v2")
            return
        import httpx

        mp.setenv(
            "AIRFLOW__API__AUTH_BACKENDS", "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth"
        )
        from airflow.www.app import create_app

        app = create_app(testing=True)
        security = app.appbuilder.sm
        if not security.find_user(username="race-qa"):
            security.add_user(
                "race-qa", "Race", "QA", "race-qa@example.com", security.find_role("Viewer"), password="qa"
            )
        client = httpx.Client(
            transport=httpx.WSGITransport(app=app), base_url="http://webserver", auth=("race-qa", "qa")
        )
        yield HttpTransport(client, "v1")


def test_rest_api_observations_classify_like_the_database(api, sqlite_plan):
    observations = observations_from_api(api, list(EXPECTED), TASK_ID, since=sqlite_plan["since"])
    results = judge(sqlite_plan, observations)
    assert {r.dag.dag_id: r.cls for r in results} == EXPECTED
    lost = next(r for r in results if r.cls == "lost")
    # Records are fetched for failed task instances only; the failed-with-record run names the worker's task.
    assert lost.ecs_task_arn == FAKE_TASK_ARN
    with pytest.raises(NotFound):
        api.get(f"/dags/{PREFIX}_b2/dagRuns/no-such-run", {})


@pytest.mark.skipif(not BOTOCORE_HAS_INVOKE_REST_API, reason="this botocore has no InvokeRestApi (next test)")
def test_mwaa_invoke_rest_api_request_shapes(api, sqlite_plan):
    """Each API call becomes one ``InvokeRestApi`` with the exact botocore shape, answered with the real body."""
    from botocore.stub import Stubber

    # The environment runs the same Airflow as the in-process API: v2 on Airflow 3, v1 on Airflow 2.
    transport = MwaaTransport(
        "qa-race", region_name="eu-west-1", api_version="v2" if AIRFLOW_HAS_API_V2 else "v1"
    )
    stubber = Stubber(transport.client)
    dag_ids = [f"{PREFIX}_a4", f"{PREFIX}_b2"]
    window = {transport.api.since_param: sqlite_plan["since"]}
    task_filter = {"task_id": TASK_ID} if transport.api.filters_task_id else {}
    for dag_id in dag_ids:
        run_id = sqlite_plan["run_ids"][dag_id]
        for path, params in (
            (f"/dags/{dag_id}/dagRuns", {**window, "limit": 100, "offset": 0}),
            (
                f"/dags/{dag_id}/dagRuns/~/taskInstances",
                {**window, **task_filter, "limit": 100, "offset": 0},
            ),
        ):
            stubber.add_response(
                "invoke_rest_api",
                {"RestApiStatusCode": 200, "RestApiResponse": api.get(path, params)},
                {"Name": "qa-race", "Path": path, "Method": "GET", "QueryParameters": params},
            )
        xcom = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{TASK_ID}/xcomEntries/return_value"
        expected = {"Name": "qa-race", "Path": xcom, "Method": "GET", "QueryParameters": {}}
        try:
            body = api.get(xcom, {})
        except NotFound:  # the lost run: MWAA relays Airflow's 404 as RestApiClientException
            stubber.add_client_error(
                "invoke_rest_api",
                service_error_code="RestApiClientException",
                http_status_code=400,
                modeled_fields={
                    "RestApiStatusCode": 404,
                    "RestApiResponse": {"title": "XCom entry not found"},
                },
                expected_params=expected,
            )
        else:
            stubber.add_response(
                "invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": body}, expected
            )
    with stubber:
        observations = observations_from_api(transport, dag_ids, TASK_ID, since=sqlite_plan["since"])
    stubber.assert_no_pending_responses()
    by_dag = {o.dag_id: o for o in observations}
    assert by_dag[f"{PREFIX}_a4"].record["ecs_task_arn"] == FAKE_TASK_ARN
    assert by_dag[f"{PREFIX}_b2"].state == "failed" and by_dag[f"{PREFIX}_b2"].record is None


@pytest.mark.skipif(
    BOTOCORE_HAS_INVOKE_REST_API, reason="checks the message for a botocore without InvokeRestApi"
)
def test_mwaa_transport_names_the_botocore_it_needs():
    with pytest.raises(RuntimeError, match=r"InvokeRestApi needs botocore >= 1\.35\.74"):
        MwaaTransport("qa-race", region_name="eu-west-1").get("/dags", {})
