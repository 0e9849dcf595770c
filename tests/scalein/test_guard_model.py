"""The exhaustive check of the guard's state machine (``testing/guard_model.py``) over the real ``machine.py``."""

from __future__ import annotations

from dataclasses import replace

from airflow_provider_ecsops.scalein import machine
from airflow_provider_ecsops.testing.guard_model import explore, main


def test_every_interleaving_keeps_the_pause_invariants_and_never_wedges():
    report = explore(machine.PAUSE, messages=2, faults=1)
    assert not report.violation, report.describe()
    assert report.states > 1000, "the environment explored more than a handful of worlds"


def test_consume_policy_loses_nothing_and_never_wedges():
    report = explore(machine.CONSUME, messages=1, faults=1)
    assert not report.violation, report.describe()


def test_a_machine_resuming_before_protection_succeeds_is_caught_with_its_trace(monkeypatch, capsys):
    correct = machine._OUTCOMES[machine.BACKLOG]

    def resume_first(state: machine.State, done: machine.Done):
        # The bug on purpose: a backlog seen while released resumes consuming, protecting only afterwards.
        if state.phase == machine.RELEASED and done.ok and done.value:
            resumed = replace(state, phase=machine.BUSY, consuming=True, pending=machine.PROTECT)
            return resumed, [machine.RESUME_CONSUMING, machine.Io(machine.PROTECT)]
        return correct(state, done)

    monkeypatch.setitem(machine._OUTCOMES, machine.BACKLOG, resume_first)
    assert main(["--messages", "1"]) == 1
    printed = capsys.readouterr().out
    assert "VIOLATION" in printed and "while ECS does not protect the task" in printed
    assert "backlog succeeds" in printed, f"the trace ends with the faulty transition:\n{printed}"


def test_a_machine_that_stops_retrying_after_a_failure_is_reported_as_a_wedge(monkeypatch):
    correct = machine._tick

    def gives_up(state: machine.State, tick: machine.Tick):
        if state.phase == machine.WAITING and state.failure:
            return state, []
        return correct(state, tick)

    monkeypatch.setattr(machine, "_tick", gives_up)
    report = explore(machine.PAUSE, messages=1, faults=1)
    assert report.violation.startswith("wedge"), report.describe()
    assert report.trace and report.trace[-1] == "protect fails"


def test_self_retire_lowers_desired_count_only_released_unprotected_idle_and_locked():
    report = explore(machine.PAUSE, messages=1, faults=1, retire=True)
    assert not report.violation, report.describe()
    explored = {
        "retire lowers desiredCount",
        "retire finds the lock busy",
        "retire sees work, a backlog or the floor",
        "other worker writes desiredCount, unlocks",
    }
    assert explored <= report.moves, f"retire scenarios never explored: {explored - report.moves}"


def test_a_machine_retiring_after_an_unconfirmed_release_is_caught_with_its_trace(monkeypatch, capsys):
    correct = machine._tick

    def retires_anyway(state: machine.State, tick: machine.Tick):
        # The bug on purpose (the machine had it until the model checked retire): a failed release counts as
        # released, so the worker retires while ECS may still protect it.
        if state.phase == machine.RELEASED and tick.retire_due:
            return correct(replace(state, failure=""), tick)
        return correct(state, tick)

    monkeypatch.setattr(machine, "_tick", retires_anyway)
    assert main(["--messages", "1", "--retire"]) == 1
    printed = capsys.readouterr().out
    assert "VIOLATION" in printed and "desiredCount lowered while protected" in printed, printed
    assert "release fails" in printed and printed.rstrip().endswith("retire lowers desiredCount"), printed
