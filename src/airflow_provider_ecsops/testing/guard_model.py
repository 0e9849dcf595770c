"""Exhaustive check of the guard's state machine: breadth-first over every interleaving, driving the REAL
``scalein/machine.py`` against an abstract worker, broker and ECS.

The environment (a few messages, one prefetch slot, a bounded number of fault periods) can at any moment:
publish a message, deliver one to a consuming worker, hand a received message to the guard's gate (now, or
hold it for an ETA and gate it later), finish a running task, fire the guard's tick (every combination of its
clock flags), let the pending I/O call take effect at ECS, complete it (success without a fault, failure
during one), start or end a fault, let protection lapse (only while renewals fail), choose this task as a
scale-in victim while unprotected (desiredStatus STOPPED), send SIGTERM, reach the stop deadline, exit.
With ``retire`` on, the guard's tick may also be due to self-retire, and another worker of the fleet retires
through the same lock: it takes the lock, reads desiredCount, writes one less, unlocks (``retire.py``'s scheme).

Checked on every transition (``pause`` policy for the first two):

- no execution starts while ECS does not protect the task;
- the worker never consumes while ECS does not protect the task;
- at exit no message is both unacked and unowned (nothing running, held or in flight);
- self-retire lowers desiredCount only while the guard is released, ECS does not protect the task, nothing
  runs or waits for its ETA, the backlog is empty, and this worker holds the fleet's retire lock; no decrement
  is lost to another worker's concurrent retire, none goes below the floor; after lowering it the worker never
  consumes again, and it exits;
- no wedge: from every reachable state, once faults end, a state that consumes protected, has exited, rests
  idle with nothing to do, or awaits the stop ECS decided (doomed) is reachable without further faults,
  lapses, victims or signals.

Modelling assumptions (each a property of ``guard.py``): protection counts as lapsed by the guard's clock no
later than ECS's (``LAPSE_MARGIN_SECONDS``), so a lapse reaches both at once; a request handed to the pool
starts within that margin; the transport restores prefetched, never gated messages when the worker stops;
the retire call's own checks (nothing received, running or held; the backlog count) and its write happen under
the lock with no receipt or publish in between (a message published after the count is another worker's, not
a loss).

    python -m airflow_provider_ecsops.testing.guard_model [--policy pause] [--messages 2] [--faults 1] [--retire]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from airflow_provider_ecsops.scalein import machine
from airflow_provider_ecsops.scalein.machine import Done, Io, Tick

PREFETCH = 1
FLAGS = ("idle_elapsed", "verify_elapsed", "renewal_due", "retry_due", "retire_due")
TICKS = [
    Tick(busy=False, idle_elapsed=i, verify_elapsed=v, renewal_due=r, retry_due=d, retire_due=t)
    for i, v, r, d, t in itertools.product((False, True), repeat=5)
]
CALM_EXCLUDED = ("fault_start", "lapse", "victim", "sigterm")
DESIRED, FLOOR = 2, 1  # the service's desiredCount at start and its floor: room for one retire, not two
ME, OTHER = "me", "other"  # who holds the fleet's retire lock


@dataclass(frozen=True)
class World:
    """The guard's machine state plus the abstract worker, broker and ECS around it."""

    m: machine.State
    unpublished: int
    queue: int = 0
    inflight: int = 0  # delivered to the worker, not yet through the gate
    held: int = 0  # received with an ETA, waiting in the timer
    running: int = 0
    done: int = 0
    protected: bool = False  # what ECS says
    applied: bool = False  # the pending call has taken effect at ECS
    doomed: bool = False  # ECS chose this task: desiredStatus STOPPED
    fault: bool = False
    faults_left: int = 0
    sigterm: bool = False
    deadline: bool = False
    exited: bool = False
    desired: int = DESIRED  # the service's desiredCount at ECS
    lowered: int = 0  # decrements written by this worker and by the other one
    lock: str = ""  # holder of the retire lock
    other_read: int | None = None  # the other worker's read of desiredCount, under its lock
    other_retires: int = 0  # retires the other worker may still do
    retired: bool = False  # this worker lowered desiredCount


@dataclass
class Report:
    states: int
    violation: str = ""
    trace: list[str] | None = None
    moves: frozenset[str] = frozenset()  # every move label taken: proof that a scenario was explored

    def describe(self) -> str:
        if not self.violation:
            return f"guard model: {self.states} states, every invariant holds"
        steps = "\n".join(f"  {i:>3}. {label}" for i, label in enumerate(self.trace or [], 1))
        return f"guard model: VIOLATION after {len(self.trace or [])} steps: {self.violation}\n{steps}"


def explore(policy: str = machine.PAUSE, messages: int = 2, faults: int = 1, retire: bool = False) -> Report:
    """Every reachable world; the first violated invariant (shortest trace) or the wedge check's verdict.

    :param retire: self-retire on (the tick's ``retire_due`` varies; another worker retires too).
    """
    state, actions = machine.initial(policy)
    world = World(state, messages, faults_left=faults, other_retires=1 if retire else 0)
    start = _apply(world, actions, [])
    parent: dict[World, tuple[World | None, str]] = {start: (None, "worker start")}
    edges: dict[World, list[tuple[str, World]]] = {}
    frontier = deque([start])
    while frontier:
        world = frontier.popleft()
        out = edges[world] = []
        for label, nxt, problem in _successors(world, policy, retire):
            if nxt not in parent:
                parent[nxt] = (world, label)
                frontier.append(nxt)
            if problem:
                return Report(len(parent), problem, [*_trace(parent, world), label])
            out.append((label, nxt))
    moves = frozenset(label for out in edges.values() for label, _ in out)
    wedged = _wedged(edges)
    if wedged is not None:
        trace = _trace(parent, wedged)
        return Report(len(parent), "wedge: no way to consume protected, rest or exit", trace, moves)
    return Report(len(parent), moves=moves)


# -- the environment's moves ---------------------------------------------------------------------------------
def _successors(  # noqa: C901 - one branch per move
    w: World, policy: str, retire: bool
) -> Iterator[tuple[str, World, str]]:
    if w.exited:
        return
    pause = policy == machine.PAUSE
    yield from _other_worker(w)
    if w.unpublished:
        yield "publish a message", replace(w, unpublished=w.unpublished - 1, queue=w.queue + 1), ""
    if w.m.consuming and w.queue and w.inflight < PREFETCH:
        problem = "consumed while ECS does not protect the task" if pause and not w.protected else ""
        yield "broker delivers a message", replace(w, queue=w.queue - 1, inflight=w.inflight + 1), problem
    if w.inflight:
        yield from _gate(replace(w, inflight=w.inflight - 1), "gate: received message", pause)
        if not w.sigterm:
            yield "received with an ETA (held)", replace(w, inflight=w.inflight - 1, held=w.held + 1), ""
    if w.held:
        yield from _gate(replace(w, held=w.held - 1), "gate: ETA due", pause)
    if w.running:
        yield "task finishes (acked)", replace(w, running=w.running - 1, done=w.done + 1), ""
    if not w.sigterm:
        busy = bool(w.running or w.held)
        for tick in TICKS if retire else [t for t in TICKS if not t.retire_due]:
            flags = ",".join(k for k in FLAGS if getattr(tick, k))
            yield from _machine(w, replace(tick, busy=busy), f"tick busy={busy} {flags}", pause)
    yield from _io(w, pause)
    if w.faults_left and not w.fault:
        yield "fault_start", replace(w, fault=True, faults_left=w.faults_left - 1), ""
    if w.fault:
        yield "fault_end", replace(w, fault=False), ""
    if w.fault and w.protected and not (w.m.pending == machine.PROTECT and w.applied):
        yield from _machine(replace(w, protected=False), machine.Lapsed(), "lapse", pause)
    if not w.protected and not w.doomed:
        yield "victim: ECS chooses this unprotected task", replace(w, doomed=True), ""
    if not w.sigterm:
        # The guard returns received-not-started and held messages; the transport restores prefetched ones.
        state, actions = machine.step(w.m, machine.Sigterm())
        yield "sigterm", _apply(replace(w, m=state, sigterm=True), actions, []), ""
    if w.sigterm and w.running and not w.deadline:
        state, actions = machine.step(w.m, machine.Deadline())
        yield "deadline", _apply(replace(w, m=state, deadline=True), actions, []), ""
    if w.sigterm and not w.running:
        lost = w.held + w.inflight
        problem = f"exit with {lost} message(s) unacked and unowned" if lost else ""
        yield "exit", replace(w, exited=True), problem
    if w.sigterm and w.deadline and w.running:
        yield "sigkill", replace(w, exited=True), f"SIGKILL with {w.running} running message(s) lost"


def _gate(w: World, label: str, pause: bool) -> Iterator[tuple[str, World, str]]:
    yield from _machine(w, machine.Received(), label, pause, gated=True)


def _machine(
    w: World, event: machine.Event, label: str, pause: bool, gated: bool = False
) -> Iterator[tuple[str, World, str]]:
    state, actions = machine.step(w.m, event)
    problems: list[str] = []
    nxt = _apply(replace(w, m=state), actions, problems, pause=pause)
    if gated and machine.ACCEPT not in actions and machine.RETURN not in actions:
        problems.append("the gate neither started nor returned the message")
    yield label, nxt, "; ".join(problems) or _consuming_problem(nxt, pause)


def _io(w: World, pause: bool) -> Iterator[tuple[str, World, str]]:
    op = w.m.pending
    if not op or w.sigterm:
        return
    if op == machine.RETIRE:
        yield from _retire(w, pause)
        return
    if not w.applied and not w.fault:
        effect = {machine.PROTECT: True, machine.RELEASE: False}.get(op, w.protected)
        yield f"{op} takes effect at ECS", replace(w, applied=True, protected=effect), ""
    if w.applied and not w.fault:
        value = {machine.BACKLOG: w.queue, machine.DESIRED_STATUS: "STOPPED" if w.doomed else "RUNNING"}.get(
            op
        )
        yield from _machine(replace(w, applied=False), Done(op, True, value), f"{op} succeeds", pause)
    if w.fault:
        yield from _machine(
            replace(w, applied=False), Done(op, False, kind="retryable"), f"{op} fails", pause
        )


def _retire(w: World, pause: bool) -> Iterator[tuple[str, World, str]]:
    """The retire call (``guard._retire``, ``ServiceScaler.retire_one``): lock, count, lower, unlock."""
    if w.fault and not w.retired:  # once desiredCount is lowered, retire_one answers True whatever fails
        failed = replace(w, lock="" if w.lock == ME else w.lock, applied=False)
        yield from _machine(failed, Done(machine.RETIRE, False, kind="retryable"), "retire fails", pause)
        return
    if not w.lock:
        yield "retire takes the lock", replace(w, lock=ME), ""
    if w.lock == OTHER:
        busy = Done(machine.RETIRE, False, kind="lock_busy")
        yield from _machine(w, busy, "retire finds the lock busy", pause)
    if w.lock == ME and not w.applied:
        if w.queue or w.running or w.held or w.inflight or w.desired <= FLOOR:
            yield "retire sees work, a backlog or the floor", replace(w, applied=True), ""
        else:
            nxt = replace(w, applied=True, desired=w.desired - 1, lowered=w.lowered + 1, retired=True)
            yield "retire lowers desiredCount", nxt, _retire_problem(w) or _count_problem(nxt)
    if w.lock == ME and w.applied:
        yield from _machine(
            replace(w, lock="", applied=False),
            Done(machine.RETIRE, True, w.retired),
            "retire succeeds",
            pause,
        )


def _retire_problem(w: World) -> str:
    if w.m.phase != machine.RELEASED:
        return f"desiredCount lowered while {w.m.phase}"
    if w.protected or w.m.consuming:
        return "desiredCount lowered while protected or consuming"
    if w.running or w.held:
        return "desiredCount lowered while a task runs or waits for its ETA"
    return ""


def _other_worker(w: World) -> Iterator[tuple[str, World, str]]:
    """Another worker of the fleet retiring through the same lock."""
    if w.other_retires and not w.lock:
        yield (
            "other worker takes the lock, reads desiredCount",
            replace(w, lock=OTHER, other_read=w.desired),
            "",
        )
    if w.lock == OTHER and w.other_read is not None:
        lowered = w.other_read > FLOOR
        nxt = replace(
            w,
            lock="",
            other_read=None,
            other_retires=w.other_retires - 1,
            desired=w.other_read - 1 if lowered else w.other_read,
            lowered=w.lowered + lowered,
        )
        yield "other worker writes desiredCount, unlocks", nxt, _count_problem(nxt)


def _count_problem(w: World) -> str:
    if w.desired != DESIRED - w.lowered:
        return f"a decrement was lost: desiredCount {w.desired} after {w.lowered} retire(s) from {DESIRED}"
    return f"desiredCount {w.desired} below the floor {FLOOR}" if w.desired < FLOOR else ""


def _apply(w: World, actions: list[machine.Action], problems: list[str], pause: bool = True) -> World:
    for action in actions:
        if action == machine.ACCEPT:
            if pause and not w.protected:
                problems.append("execution started while ECS does not protect the task")
            w = replace(w, running=w.running + 1)
        elif action == machine.RETURN:
            w = replace(w, queue=w.queue + 1)
        elif action == machine.RETURN_WAITING:
            w = replace(w, queue=w.queue + w.held + w.inflight, held=0, inflight=0)
        elif action == machine.RETURN_RUNNING:
            w = replace(w, queue=w.queue + w.running, running=0)
        elif action == machine.RETIRED:  # the guard asks Celery for a warm shutdown
            w = replace(w, sigterm=True, queue=w.queue + w.held + w.inflight, held=0, inflight=0)
        elif isinstance(action, Io):
            w = replace(w, applied=False)
    return w


def _consuming_problem(w: World, pause: bool) -> str:
    if w.retired and w.m.consuming:
        return "consuming after this worker lowered desiredCount"
    return (
        "consuming while ECS does not protect the task" if pause and w.m.consuming and not w.protected else ""
    )


# -- the wedge check ------------------------------------------------------------------------------------------
def _goal(w: World) -> bool:
    m = w.m
    rest = (
        m.phase == machine.RELEASED
        and not m.pending
        and not (w.unpublished or w.queue or w.inflight or w.held or w.running)
    )
    return w.exited or m.phase == machine.DOOMED or rest or (m.consuming and w.protected and not w.fault)


def _wedged(edges: dict[World, list[tuple[str, World]]]) -> World | None:
    """A reachable world from which no goal is reachable by calm moves (faults end, none start), if any."""
    calm_back: dict[World, list[World]] = {w: [] for w in edges}
    for world, out in edges.items():
        for label, nxt in out:
            if label not in CALM_EXCLUDED:
                calm_back[nxt].append(world)
    good = {w for w in edges if _goal(w)}
    frontier = deque(good)
    while frontier:
        for before in calm_back[frontier.popleft()]:
            if before not in good:
                good.add(before)
                frontier.append(before)
    return next((w for w in edges if w not in good), None)


def _trace(parent: dict[World, tuple[World | None, str]], world: World) -> list[str]:
    labels: list[str] = []
    node: World | None = world
    while node is not None:
        node, label = parent[node]
        labels.append(label)
    return labels[::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=machine.PAUSE, choices=machine.POLICIES)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--faults", type=int, default=1)
    parser.add_argument("--retire", action="store_true", help="self-retire on, another worker retiring too")
    args = parser.parse_args(argv)
    report = explore(args.policy, args.messages, args.faults, args.retire)
    print(report.describe())
    return 1 if report.violation else 0


if __name__ == "__main__":
    sys.exit(main())
