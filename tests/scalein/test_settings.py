"""The guard's settings refuse protection timings under which a busy worker would pause at every renewal."""

from __future__ import annotations

import pytest

from airflow_provider_ecsops.scalein.settings import ScaleInSettings


@pytest.mark.parametrize(
    ("protection", "renew_before"),
    [(1, 0), (4, 1), (5, 1), (60, 1)],
    ids=[
        "1 min never renews",
        "4/1 renews at the lapse",
        "5/1 renews at the lapse",
        "60/1 renews at the lapse",
    ],
)
def test_a_renewal_due_only_when_protection_counts_as_lapsed_is_refused_with_the_fix(
    protection, renew_before
):
    with pytest.raises(ValueError) as caught:
        ScaleInSettings(protection_minutes=protection, renew_before_minutes=renew_before)
    message = str(caught.value)
    assert message.startswith("[ecsops] scalein_renew_before_minutes: ") and "Fix: " in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("protection", "renew_before"), [(2, 1), (3, 1), (4, 2), (5, 2), (60, 10), (2880, 10)]
)
def test_a_renewal_due_before_the_lapse_margin_plus_one_call_is_accepted(protection, renew_before):
    settings = ScaleInSettings(protection_minutes=protection, renew_before_minutes=renew_before)
    assert renew_before * 60 >= settings.lapse_margin_seconds + settings.renewal_headroom_seconds


def test_renew_before_at_or_above_the_protection_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"not below scalein_protection_minutes \(10\).*Fix: lower it"):
        ScaleInSettings(protection_minutes=10, renew_before_minutes=10)
