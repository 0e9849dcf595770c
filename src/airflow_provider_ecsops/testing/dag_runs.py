"""Run a DAG built inside a test with ``dag.test()`` on Airflow 2 and 3.

Airflow 3's ``dag.test()`` only runs DAGs known to the metadata DB through a DAG bundle; a DAG created in a test
is written there first (serialized, as the DAG processor would), under the default ``dags-folder`` bundle.
"""

from __future__ import annotations

from airflow_provider_ecsops.compat import AIRFLOW_V_3


def register_dag(dag) -> None:
    """Make ``dag`` known to the metadata DB so that Airflow 3's ``dag.test()`` accepts it."""
    if not AIRFLOW_V_3:
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = DagBag(dag_folder="/dev/null")
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_dag(dag, **kwargs):
    """``dag.test()`` for a DAG built anywhere; returns the DagRun."""
    register_dag(dag)
    return dag.test(**kwargs)
