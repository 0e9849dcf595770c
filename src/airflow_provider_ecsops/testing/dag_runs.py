"""Run a DAG built inside a test with ``dag.test()`` on every supported Airflow.

Where Airflow has DAG bundles (3.0+), ``dag.test()`` only runs DAGs known to the metadata DB through one; a DAG
created in a test is written there first (serialized, as the DAG processor would), under the default
``dags-folder`` bundle. Airflow 2's ``dag.test()`` runs any DAG object as it is.
"""

from __future__ import annotations

import inspect
from typing import Any


def dag_bag(dag_folder: str):
    """Airflow's parsing ``DagBag`` over ``dag_folder`` (it moved to ``airflow.dag_processing`` in 3.1).

    :param dag_folder: a DAG file or folder; ``"/dev/null"`` for an empty bag.
    """
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=dag_folder)


def register_dag(dag) -> None:
    """Make ``dag`` known to the metadata DB where ``dag.test()`` needs it (Airflow with DAG bundles)."""
    try:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
    except ImportError:  # no DAG bundles (Airflow 2)
        return
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = dag_bag("/dev/null")
    try:  # 3.1+: a function writes the bag to the DB
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # 3.0: the bag writes itself, and expects what its file parser sets on each DAG
        if dag.relative_fileloc is None:
            dag.relative_fileloc = dag.fileloc
        bag.bag_dag(dag)
        bag.sync_to_db("dags-folder", None)
        return
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


_CHOOSE: Any = object()  # run_dag's default: let dag.test() choose the logical date


def run_dag(dag, logical_date: Any = _CHOOSE, **kwargs):
    """``dag.test()`` for a DAG built anywhere; returns the DagRun.

    :param logical_date: the run's logical date (``execution_date`` where ``dag.test()`` still calls it that);
        ``None`` asks for a run without one (passed through as given); left out, ``dag.test()`` chooses.
    """
    register_dag(dag)
    if logical_date is not _CHOOSE:
        date_arg = (
            "logical_date" if "logical_date" in inspect.signature(dag.test).parameters else "execution_date"
        )
        kwargs[date_arg] = logical_date
    return dag.test(**kwargs)
