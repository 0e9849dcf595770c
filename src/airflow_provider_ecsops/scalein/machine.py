"""The guard's decisions as a pure state machine: ``step(state, event) -> (state, actions)``.

No clock, no I/O, no Celery here: ``guard.py`` turns what the worker sees (its clock, Celery's request sets,
results of the I/O thread) into events and carries out the actions; ``testing/guard_model.py`` drives the same
``step`` against an abstract ECS and broker for every interleaving.

Invariant under the default ``pause`` policy: the worker consumes, and hands a received message to the pool,
only while its protection is confirmed on, no release or retire is in flight and ECS is not stopping the task. At most
one I/O call (``State.pending``) is in flight. Phases:

- ``waiting``: not consuming; protection is not confirmed yet (start, lapse, failures). Retries with backoff.
- ``busy``: consuming; protection is renewed while anything is reserved, active or held for an ETA.
- ``draining``: idle, consumption paused, still protected; a message received now or a backlog revives it.
- ``released``: protection off, not consuming; a backlog makes it protect, check ECS's desiredStatus, resume.
  Self-retire lowers desiredCount only from here, and only once a release has been confirmed by ECS.
- ``doomed``: ECS is stopping the task (desiredStatus STOPPED): never consume again, wait for SIGTERM.
- ``stopping``: SIGTERM (warm or cold) or self-retire: nothing is consumed or started again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PAUSE, CONSUME = "pause", "consume"
POLICIES = (PAUSE, CONSUME)
WAITING, BUSY, DRAINING, RELEASED, DOOMED, STOPPING = (
    "waiting",
    "busy",
    "draining",
    "released",
    "doomed",
    "stopping",
)
# I/O operations, run one at a time on the guard's I/O thread.
PROTECT, RELEASE, BACKLOG, DESIRED_STATUS, RETIRE = (
    "protect",
    "release",
    "backlog",
    "desired_status",
    "retire",
)
# Actions the guard carries out on the consumer's loop (besides starting the I/O call named by ``Io``).
PAUSE_CONSUMING, RESUME_CONSUMING = "pause_consuming", "resume_consuming"
ACCEPT, RETURN = "accept", "return"  # a received message: hand it to the pool, or give it back to its queue
RETURN_WAITING = "return_waiting"  # SIGTERM: received-not-started and ETA-held messages back to their queues
RETURN_RUNNING = "return_running"  # stop deadline: running tasks' messages back, their processes ended
RETIRED = "retired"  # self-retire lowered desiredCount: shut down warm


@dataclass(frozen=True)
class State:
    """What the guard knows and has decided.

    :param phase: one of the phases in the module docstring.
    :param policy: ``pause`` or ``consume``.
    :param protected: protection confirmed on and not lapsed (by the guard's clock).
    :param consuming: the task consumer consumes from the worker's queues.
    :param pending: the I/O operation in flight, "" if none.
    :param failure: kind of the last failed protect, release or desiredStatus call ("" after one succeeds).
    """

    phase: str = WAITING
    policy: str = PAUSE
    protected: bool = False
    consuming: bool = False
    pending: str = ""
    failure: str = ""

    @property
    def may_consume(self) -> bool:
        """Whether consuming, and starting a received message, is allowed now."""
        if self.phase in (DOOMED, STOPPING) or self.pending == RETIRE:  # a retiring worker takes nothing
            return False
        if self.policy == CONSUME:
            return True
        return self.protected and self.phase in (BUSY, DRAINING) and self.pending != RELEASE


@dataclass(frozen=True)
class Io:
    """Action: start ``op`` on the I/O thread."""

    op: str


@dataclass(frozen=True)
class Tick:
    """The guard's timer fired. Each flag is computed by the guard from its clock and Celery's state.

    :param busy: requests reserved, active or held for an ETA.
    :param idle_elapsed: idle for ``scalein_idle_grace_seconds`` (busy phase).
    :param verify_elapsed: draining for ``scalein_idle_verify_seconds``.
    :param renewal_due: protection expires within ``scalein_renew_before_minutes``.
    :param retry_due: the backoff after the last failed call has passed.
    :param retire_due: self-retire is on and its interval has passed.
    """

    busy: bool = False
    idle_elapsed: bool = False
    verify_elapsed: bool = False
    renewal_due: bool = False
    retry_due: bool = True
    retire_due: bool = False


@dataclass(frozen=True)
class Done:
    """The I/O call ``op`` finished: ``ok`` with ``value``, or failed with error ``kind``."""

    op: str
    ok: bool
    value: object = None
    kind: str = ""


@dataclass(frozen=True)
class Received:
    """A received message is about to be handed to the pool (now, or its ETA has come)."""


@dataclass(frozen=True)
class Lapsed:
    """Protection expires now by the guard's clock (renewals kept failing)."""


@dataclass(frozen=True)
class Sigterm:
    """SIGTERM (warm, or cold with ``REMAP_SIGTERM=SIGQUIT``)."""


@dataclass(frozen=True)
class Deadline:
    """Shutting down and the stop timeout minus the margin has passed."""


Event = Tick | Done | Received | Lapsed | Sigterm | Deadline
Action = Io | str


def initial(policy: str = PAUSE) -> tuple[State, list[Action]]:
    """The state at worker start and its first actions: protect first; ``consume`` consumes meanwhile."""
    if policy == CONSUME:
        return State(BUSY, policy, consuming=True, pending=PROTECT), [RESUME_CONSUMING, Io(PROTECT)]
    return State(WAITING, policy, pending=PROTECT), [Io(PROTECT)]


def step(state: State, event: Event) -> tuple[State, list[Action]]:
    """The next state and the actions to carry out, in order."""
    if isinstance(event, Sigterm):
        return _stop(state, [RETURN_WAITING])
    if isinstance(event, Deadline):
        return state, [RETURN_RUNNING] if state.phase == STOPPING else []
    if isinstance(event, Received):
        return _received(state)
    if isinstance(event, Lapsed):
        return _lapsed(state)
    if isinstance(event, Done):
        return _done(replace(state, pending=""), event)
    return _tick(state, event)


# -- transitions ---------------------------------------------------------------------------------------------------
def _io(state: State, op: str, actions: list[Action] | None = None) -> tuple[State, list[Action]]:
    if state.pending:
        return state, actions or []
    return replace(state, pending=op), [*(actions or []), Io(op)]


def _to(
    state: State, phase: str, consume: bool, actions: list[Action] | None = None
) -> tuple[State, list[Action]]:
    """Enter ``phase``, consuming if asked for and allowed; a pause/resume action only on change."""
    new = replace(state, phase=phase)
    consume = consume and new.may_consume
    if phase == BUSY and not consume:
        new = replace(new, phase=WAITING)  # busy means consuming: without protection, wait for it
    out = list(actions or [])
    if consume != state.consuming:
        out.insert(0, RESUME_CONSUMING if consume else PAUSE_CONSUMING)
    return replace(new, consuming=consume), out


def _stop(state: State, actions: list[Action]) -> tuple[State, list[Action]]:
    return _to(state, STOPPING, False, actions)


def _received(state: State) -> tuple[State, list[Action]]:
    if not state.may_consume:
        return state, [RETURN]
    if state.phase == BUSY:
        return state, [ACCEPT]
    new, actions = _to(state, BUSY, True, [ACCEPT])
    if not new.protected:
        return _io(new, PROTECT, actions)
    return new, actions


def _lapsed(state: State) -> tuple[State, list[Action]]:
    unprotected = replace(state, protected=False)
    if state.phase == DRAINING:
        return _to(unprotected, RELEASED, False)
    if state.phase == BUSY and state.policy == PAUSE:
        return _to(unprotected, WAITING, False)
    return unprotected, []


def _tick(state: State, tick: Tick) -> tuple[State, list[Action]]:
    phase = state.phase
    retry_ok = not state.failure or tick.retry_due
    if phase == BUSY:
        if not tick.busy and tick.idle_elapsed:
            return _to(state, DRAINING, False)
        if (not state.protected or tick.renewal_due) and retry_ok:
            return _io(state, PROTECT)
        return state, []
    if phase == DRAINING:
        if tick.busy:
            return _to(state, BUSY, True)
        return _io(state, RELEASE if tick.verify_elapsed else BACKLOG)
    if phase in (WAITING, RELEASED) and retry_ok:
        if state.protected:
            return _io(state, DESIRED_STATUS)  # protected again: ask ECS before consuming
        if phase == WAITING or tick.busy:  # released but holding an ETA message: revive, as for a backlog
            return _io(state, PROTECT)
        if tick.retire_due:
            # A failed release may have left ECS protecting the task: retiring then would make ECS stop
            # another task besides this one. Confirm the release first (found by the model's retire check).
            return _io(state, RELEASE if state.failure else RETIRE)
        return _io(state, BACKLOG)
    return state, []


def _done(state: State, done: Done) -> tuple[State, list[Action]]:
    if state.phase in (DOOMED, STOPPING):
        return state, []
    if done.op in (PROTECT, DESIRED_STATUS, RELEASE):
        state = replace(state, failure="" if done.ok else done.kind or "retryable")
    return _OUTCOMES[done.op](state, done)


def _protect_done(state: State, done: Done) -> tuple[State, list[Action]]:
    if done.ok:
        renewed = state.protected or state.consuming
        state = replace(state, protected=True)
        return (state, []) if renewed else _io(state, DESIRED_STATUS)  # newly protected: ask ECS first
    if state.policy == CONSUME and not state.consuming:
        return _io(state, DESIRED_STATUS)  # availability first: resume unprotected after the check
    return state, []


def _desired_status_done(state: State, done: Done) -> tuple[State, list[Action]]:
    if done.ok and done.value == "STOPPED":
        return _to(state, DOOMED, False)
    if done.ok or state.policy == CONSUME:
        return _to(state, BUSY, True)
    return state, []


def _release_done(state: State, done: Done) -> tuple[State, list[Action]]:
    # Failed or not, protection counts as off: the call may have reached ECS, and it expires anyway.
    return _to(replace(state, protected=False), RELEASED, False)


def _backlog_done(state: State, done: Done) -> tuple[State, list[Action]]:
    if not (done.ok and isinstance(done.value, int) and done.value > 0):
        return state, []
    if state.phase == DRAINING:
        return _to(state, BUSY, True)
    if state.phase == RELEASED:
        return _io(state, PROTECT)
    return state, []


def _retire_done(state: State, done: Done) -> tuple[State, list[Action]]:
    return _stop(state, [RETIRED]) if done.ok and done.value is True else (state, [])


_OUTCOMES = {
    PROTECT: _protect_done,
    DESIRED_STATUS: _desired_status_done,
    RELEASE: _release_done,
    BACKLOG: _backlog_done,
    RETIRE: _retire_done,
}
