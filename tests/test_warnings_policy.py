"""The suite's warning policy (pyproject ``filterwarnings``): a deprecation warning attributed to this package's
code fails the test, Airflow's own deprecations do not."""

from __future__ import annotations

import pytest


def _warn_from(module: str, category: type[Warning]) -> None:
    # warnings attribute a warning to the module whose globals issue it.
    exec("import warnings\nwarnings.warn('an old API', category)", {"__name__": module, "category": category})


@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning, FutureWarning])
def test_a_deprecation_warning_from_our_code_fails_the_test(category):
    with pytest.raises(category):
        _warn_from("airflow_provider_ecsops.fargate.operator", category)


def test_airflows_own_deprecation_warnings_stay_quiet():
    _warn_from("airflow.models.baseoperator", DeprecationWarning)
