"""The worker guard: a Celery consumer bootstep in the worker's main process.

Invariant (default ``scalein_unprotected_policy = pause``): the worker consumes, and starts a received
message, only while its ECS task is protected from scale-in; a message received while unprotected goes back
to its queue unexecuted. The decisions live in ``machine.py`` (pure, checked exhaustively by
``testing/guard_model.py``); this module feeds it events and carries out its actions:

- on the consumer's event loop only: the timer tick, the gate every request passes on its way to the pool
  (``Consumer.on_task_request``, also for ETA/countdown requests when their time comes), consumption changes,
  returning messages. Nothing here blocks the loop: protection, metadata, backlog and retire calls run on one
  I/O thread (``io.py``), at most one at a time, and their outcomes are applied by the next tick;
- no exception reaches Celery's timer or bootstep: outcomes are classified, ticks log and carry on; a
  configuration error fails the worker at start with one line.

Shutdown (how Celery runs it: the SIGTERM handler only sets a flag; the event loop exits, the consumer's steps
stop - ours returns the received-not-started and ETA-held messages on the main thread - then ``pool.join()``
waits for running tasks with the loop no longer running; acks are deferred to ``Hub.close`` on the main
thread): a watchdog thread waits for the stop timeout minus the margin and then never touches the channel: it
turns the overdue requests' pending ack into a requeue and ends their pool processes, so Celery itself sends
the requeues from the main thread and exits before ECS's SIGKILL. ``REMAP_SIGTERM=SIGQUIT`` (a cold shutdown)
is handled the same way, running tasks' messages returned before exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Any

from celery import bootsteps, signals
from celery.worker import state as worker_state

from airflow_provider_ecsops.ecs_metadata import task_desired_status
from airflow_provider_ecsops.scalein import machine
from airflow_provider_ecsops.scalein.io import CONFIG, DEPLOYMENT_BLOCKED, PERMANENT, IoThread, Outcome
from airflow_provider_ecsops.scalein.machine import Done, Io, Lapsed, Received, Sigterm, Tick
from airflow_provider_ecsops.scalein.protection import PROTECTION_CALL_MAX_SECONDS
from airflow_provider_ecsops.scalein.sqs_polls import open_polls, prepare_sqs_channel
from airflow_provider_ecsops.scalein.status import write_status

log = logging.getLogger(__name__)

EX_CONFIG = 78  # sysexits.h: configuration error
FIRST_CALL_WAIT_SECONDS = 12.0  # the first protection call at start: protection's own budget is ~10 s
ERROR_EVERY_SECONDS = 60.0
IO_COLLECT_SECONDS = 0.05  # how soon a finished I/O call's outcome is applied on the loop
FIXES = {
    DEPLOYMENT_BLOCKED: "ECS refuses protection updates while the service's deployment is blocked "
    "(DEPLOYMENT_BLOCKED). Fix: resolve or roll back the failed deployment (service events, deployment "
    "circuit breaker); the worker stays paused and retries meanwhile",
}


def return_to_queue(request: Any) -> None:
    """Give a received, not finished message back to its queue now (not after the visibility timeout).

    Redis: reject with requeue restores it from the unacked hash to the head of its list. SQS: the message
    becomes visible again (visibility 0) and is only forgotten locally, never deleted. AMQP: reject requeue.
    """
    if request.acknowledged:
        return
    message = request.message
    info = message.delivery_info
    if "sqs_message" in info:
        channel = message.channel
        queue = channel.canonical_queue_name(info["routing_key"]) if "routing_key" in info else None
        channel.sqs(queue=queue).change_message_visibility(
            QueueUrl=info["sqs_queue"],
            ReceiptHandle=info["sqs_message"]["ReceiptHandle"],
            VisibilityTimeout=0,
        )
        channel.qos.ack(message.delivery_tag)
    else:
        # Directly on the message: Celery's own reject may be deferred to an event loop that has stopped.
        message.reject(requeue=True)
    request.acknowledged = True


def waiting_requests(held: dict[str, Any]) -> list[Any]:
    """Requests received by this worker that have not started: reserved, or held for their ETA."""
    active = set(worker_state.active_requests)
    waiting = [r for r in worker_state.reserved_requests if r not in active]
    return waiting + [r for r in held.values() if r not in active and r not in waiting]


class ConfigProblem(Exception):
    """A configuration error found at worker start; the message is the one line to log."""


class ScaleInGuard(bootsteps.StartStopStep):
    """Consumer bootstep keeping protection, consumption and idleness in step (see the module docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.consumer = c
        self.active = False  # on ECS and configured (set at the first start)
        self.started = False
        self.state = machine.State()
        self.queues: list[Any] = []
        self.held: dict[str, Any] = {}  # ETA/countdown requests waiting in the timer
        self.timer_ref: Any = None
        self.collect_ref: Any = None
        self.shutdown_at: float | None = None
        self.shutdown_how = ""
        self.waiting_at_shutdown: list[Any] = []
        self.returned: list[str] = []
        # last_task_at: idle_since restarts at every phase change; retiring counts from the last task.
        self.phase_since = self.idle_since = self.last_retire_try = self.last_task_at = time.monotonic()
        self.retry_at = 0.0
        self.failures = 0
        self.last_error_at = -ERROR_EVERY_SECONDS
        self.last_status_at = 0.0
        self.reason = ""
        self.io: IoThread | None = None
        self.original_on_task_request: Any = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self, c: Any) -> None:
        # Also after a consumer restart (connection loss): Tasks rebuilt the consumer and the strategies.
        self.queues = list(c.task_consumer.queues)
        # SQS: a long poll answered after its queue is paused gives its messages back instead of crashing kombu's
        # delivery. Installed now, before the loop starts the first poll: each poll binds the delivery callback
        # when it starts, so one started before the install would still crash (seen at the start-up pause).
        prepare_sqs_channel(c.task_consumer.channel)
        if not self.started:
            self.started = True
            try:
                self._configure(c)
            except ConfigProblem as exc:
                log.error("%s", exc)
                raise SystemExit(EX_CONFIG) from None
        if not self.active:
            return
        if self.original_on_task_request is None:
            self.original_on_task_request = c.on_task_request
            c.on_task_request = self._gate
            c.update_strategies()  # the strategies captured on_task_request when they were built
        if not self.state.consuming:
            # Once the loop runs, after its consume(): a Redis consumer cancelled before the loop registered it
            # is never resumed by kombu 5.4 (Airflow 2.10's line). A message fetched meanwhile meets the gate.
            if c.hub is not None:
                c.hub.call_soon(self._pause)
            else:
                self._pause()
        self.timer_ref = c.timer.call_repeatedly(self.settings.tick_seconds, self.tick)
        # Outcomes are applied as soon as they arrive, not at the next tick: a released worker's chain
        # (backlog, protect, desiredStatus, resume) would otherwise cost a tick per call in pickup latency.
        self.collect_ref = c.timer.call_repeatedly(IO_COLLECT_SECONDS, self.collect)

    def _configure(self, c: Any) -> None:
        from airflow_provider_ecsops.scalein.protection import TaskProtection, on_ecs
        from airflow_provider_ecsops.scalein.settings import ScaleInSettings

        try:
            self.settings = ScaleInSettings.from_airflow_conf()
        except ValueError as exc:
            raise ConfigProblem(str(exc)) from None
        if not on_ecs():
            log.info("ecsops scale-in: not running on ECS (no ECS_AGENT_URI), the guard is off")
            self._write_status("off", "not on ECS")
            return
        conf = c.app.conf
        from airflow_provider_ecsops.compat import conf as airflow_conf
        from airflow_provider_ecsops.scalein.backlog import backlog_source
        from airflow_provider_ecsops.scalein.errors import ConfigurationError
        from airflow_provider_ecsops.scalein.retire import check_retire_config, retire_lock_url

        broker_url = conf.broker_url or ""
        metadb_url = airflow_conf.get("database", "sql_alchemy_conn", fallback="") or ""
        try:
            self.backlog = backlog_source(
                self.settings, broker_url, conf.broker_transport_options or {}, ssl=conf.broker_use_ssl
            )
            check_retire_config(self.settings, broker_url, metadb_url)
        except ConfigurationError as exc:
            raise ConfigProblem(_one_line(exc, "scalein_backlog_source")) from None
        if self.settings.self_retire:
            self.retire_lock_url = retire_lock_url(self.settings, broker_url, metadb_url)
        self.protection = TaskProtection(
            self.settings.protection_minutes, self.settings.api_attempts, self.settings.aws_conn_id or None
        )
        self.active = True
        self.io = IoThread()
        signals.task_received.connect(self.on_task_received, weak=False)
        signals.worker_shutting_down.connect(self.on_shutting_down, weak=False)
        self.state, actions = machine.initial(self.settings.unprotected_policy)
        self._apply(actions)
        # The loop has not started: wait (bounded) for the first protection call, so a configuration error
        # (AccessDenied, no region for the API fallback) fails the start instead of pausing forever.
        for outcome in self.io.wait(FIRST_CALL_WAIT_SECONDS):
            if not outcome.ok and outcome.kind in (CONFIG, PERMANENT):  # e.g. AccessDenied: the role lacks it
                raise ConfigProblem(_one_line(outcome.message, "scalein protection"))
            self._on_outcome(outcome)
        log.info(
            "ecsops scale-in guard on: policy %s, queues %s, idle verification %.1fs, self-retire %s",
            self.settings.unprotected_policy,
            [q.name for q in c.task_consumer.queues],
            self.settings.idle_verify_seconds,
            self.settings.self_retire,
        )

    def stop(self, c: Any) -> None:
        for ref in (self.timer_ref, self.collect_ref):
            if ref is not None:
                ref.cancel()
        self.timer_ref = self.collect_ref = None
        if self.active and self.shutdown_at is not None:
            self._stop_for_shutdown()

    def shutdown(self, c: Any) -> None:
        if self.active:
            signals.task_received.disconnect(self.on_task_received)
            signals.worker_shutting_down.disconnect(self.on_shutting_down)
            if self.io is not None:
                self.io.close()

    # -- events ---------------------------------------------------------------------------------------------------
    def on_task_received(self, sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        if sender is self.consumer and request is not None and request.eta:
            self.held[request.id] = request  # busy until it starts: keeps protection renewed

    def _gate(self, request: Any) -> None:
        """Every request on its way to the pool passes here, on the loop (ETA ones when their time comes)."""
        self.held.pop(request.id, None)
        if request.acknowledged:
            return  # already given back (e.g. at SIGTERM while held for its ETA)
        actions = [machine.RETURN] if self.shutdown_at is not None else self._feed(Received())
        if machine.ACCEPT in actions:
            self.last_task_at = time.monotonic()  # a task quicker than a tick is never seen busy
            self.original_on_task_request(request)
        else:
            worker_state.task_ready(request)
            return_to_queue(request)
            log.warning(
                "ecsops scale-in: task %s received while %s (protected=%s): returned to its queue, not run",
                request.id,
                self.state.phase,
                self.state.protected,
            )

    def on_shutting_down(self, sig: Any = None, how: Any = None, **kwargs: Any) -> None:
        # Runs inside Celery's signal handler: only record (channel work happens in stop(), on the main
        # thread). The waiting requests are noted now because the consumer forgets them before stop() runs.
        if self.shutdown_at is not None or how not in ("Warm", "Cold"):
            return
        self.shutdown_at = time.monotonic()
        self.shutdown_how = how
        self.waiting_at_shutdown = waiting_requests(self.held)
        threading.Thread(target=self._deadline_watchdog, name="ecsops-scalein-deadline", daemon=True).start()

    def collect(self) -> None:
        """Apply the outcomes the I/O thread has finished (between ticks)."""
        if self.shutdown_at is not None or self.io is None:
            return
        try:
            for outcome in self.io.poll():
                self._on_outcome(outcome)
        except Exception:
            self._error("ecsops scale-in: applying an I/O outcome failed; state kept", exc_info=True)

    def tick(self) -> None:
        try:
            self._tick()
        except Exception:
            # Never into Celery's timer ("Error in timer" every tick): log, keep the state, try next tick.
            self._error("ecsops scale-in: tick failed; state kept, retrying next tick", exc_info=True)

    def _tick(self) -> None:
        if self.shutdown_at is not None or self.io is None:
            return
        now = time.monotonic()
        for outcome in self.io.poll():
            self._on_outcome(outcome)
        if self.state.protected and self.protection.seconds_left() <= self.settings.lapse_margin_seconds:
            self._feed(Lapsed())
        busy = self._busy()
        if busy:
            self.idle_since = self.last_task_at = now
        settings = self.settings
        self._feed(
            Tick(
                busy=busy,
                idle_elapsed=now - self.idle_since >= settings.idle_grace_seconds,
                # SQS: a poll still open when protection goes may be answered with a message the stopping
                # worker never sees (it resurfaces after the visibility timeout): release once none is open.
                verify_elapsed=now - self.phase_since >= settings.idle_verify_seconds
                and not open_polls(self.consumer.task_consumer.channel),
                renewal_due=self.protection.seconds_left() < settings.renew_before_minutes * 60,
                retry_due=now >= self.retry_at,
                retire_due=settings.self_retire
                and now - self.last_retire_try >= settings.idle_verify_seconds
                and now - self.last_task_at >= settings.retire_idle_seconds,
            )
        )
        self._complain(now)
        if now - self.last_status_at >= settings.tick_seconds * 10:
            self._write_status()

    # -- the machine and its actions ------------------------------------------------------------------------------
    def _feed(self, event: machine.Event) -> list[machine.Action]:
        before = self.state
        self.state, actions = machine.step(before, event)
        if self.state.phase != before.phase:
            log.info("ecsops scale-in: %s -> %s", before.phase, self.state.phase)
            self.phase_since = self.idle_since = time.monotonic()
        self._apply(actions)
        if (self.state.phase, self.state.protected, self.state.consuming) != (
            before.phase,
            before.protected,
            before.consuming,
        ):
            self._write_status()
        return actions

    def _apply(self, actions: list[machine.Action]) -> None:
        for action in actions:
            if isinstance(action, Io):
                self._submit(action.op)
            elif action == machine.PAUSE_CONSUMING:
                self._pause()
            elif action == machine.RESUME_CONSUMING:
                self._resume()
            elif action == machine.RETIRED:
                worker_state.should_stop = 0  # warm shutdown, the way Celery's own SIGTERM handler asks

    def _submit(self, op: str) -> None:
        assert self.io is not None
        calls = {
            machine.PROTECT: lambda: self.protection.set(True),
            machine.RELEASE: lambda: self.protection.set(False),
            machine.BACKLOG: self._backlog_count,
            machine.DESIRED_STATUS: lambda: task_desired_status(self.protection.metadata_uri),
            machine.RETIRE: self._retire,
        }
        if op == machine.RETIRE:
            self.last_retire_try = time.monotonic()
        self.io.submit(op, calls[op])

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.ok:
            if outcome.op in (machine.PROTECT, machine.RELEASE, machine.DESIRED_STATUS):
                self.failures, self.retry_at, self.reason = 0, 0.0, ""
            if outcome.op == machine.DESIRED_STATUS and outcome.value == "STOPPED":
                log.warning(
                    "ecsops scale-in: ECS is stopping this task (desiredStatus STOPPED): not resuming "
                    "consumption; waiting for SIGTERM"
                )
        else:
            self._on_failure(outcome)
        self._feed(Done(outcome.op, outcome.ok, outcome.value, outcome.kind))

    def _on_failure(self, outcome: Outcome) -> None:
        self.failures += 1
        cap = backoff_cap_seconds(self.settings)
        if outcome.kind in (PERMANENT, CONFIG):
            delay = cap
        else:
            delay = min(cap, self.settings.tick_seconds * 2 ** min(self.failures, 10))
        self.retry_at = time.monotonic() + delay
        text = FIXES.get(outcome.kind, outcome.message)
        if outcome.op in (machine.PROTECT, machine.RELEASE):
            self.reason = f"{outcome.op} failed ({outcome.kind}): {text}"
            self._error(f"ecsops scale-in: {self.reason}; retrying in {delay:.1f}s")
        elif outcome.op == machine.DESIRED_STATUS:
            self.reason = f"task metadata unavailable ({outcome.kind}): {text}"
            self._error(f"ecsops scale-in: {self.reason}; not consuming until it answers")
        elif outcome.kind == "lock_busy":
            log.info("ecsops scale-in: not retiring now: %s", outcome.message)
        else:
            self._error(f"ecsops scale-in: {outcome.op} failed ({outcome.kind}): {text}; retrying")

    def _complain(self, now: float) -> None:
        """The ERROR line, at most once a minute, while consuming unprotected or paused by failures."""
        state = self.state
        if state.consuming and not state.protected:
            self._error(
                f"ecsops scale-in: consuming UNPROTECTED (policy consume): {self.reason or 'no protection'}"
            )
        elif state.phase == machine.WAITING and self.reason:
            self._error(f"ecsops scale-in: paused, not consuming: {self.reason}")

    def _error(self, text: str, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self.last_error_at >= ERROR_EVERY_SECONDS:
            self.last_error_at = now
            log.error("%s", text, exc_info=exc_info)
        else:
            log.info("%s", text)

    def _busy(self) -> bool:
        self.held = {
            i: r for i, r in self.held.items() if not r.acknowledged and r not in worker_state.active_requests
        }
        return bool(worker_state.reserved_requests or worker_state.active_requests or self.held)

    def _write_status(self, phase: str = "", reason: str = "") -> None:
        path = getattr(self, "settings", None) and self.settings.status_file
        if not path or path == "off":
            return
        state = self.state
        self.last_status_at = time.monotonic()
        now = time.time()
        try:
            write_status(
                path,
                {
                    "state": phase or state.phase,
                    "protected": state.protected,
                    "consuming": state.consuming,
                    "policy": self.settings.unprotected_policy,
                    "reason": reason or self.reason,
                    "since": now - (time.monotonic() - self.phase_since),
                    "updated": now,
                },
            )
        except OSError as exc:
            log.info("ecsops scale-in: cannot write the status file %s: %s", path, exc)

    # -- consumption, backlog, retire -----------------------------------------------------------------------------
    def _pause(self) -> None:
        consumer = self.consumer.task_consumer
        for queue in self.queues:
            consumer.cancel_by_queue(queue.name)
        log.info("ecsops scale-in: paused consuming from %s", [q.name for q in self.queues])

    def _resume(self) -> None:
        consumer = self.consumer.task_consumer
        for queue in self.queues:
            if not consumer.consuming_from(queue.name):
                consumer.add_queue(queue)
        consumer.consume()
        log.info("ecsops scale-in: consuming from %s", [q.name for q in self.queues])

    def _backlog_count(self) -> int:
        return self.backlog.count([q.name for q in self.queues])

    def _retire(self) -> bool:
        """On the I/O thread: lower the service's desiredCount by one if nothing waits (True if it did)."""
        from airflow_provider_ecsops.scalein.retire import service_scaler

        # Checked again here, not only at the tick: a message prefetched before the pause may have reached the
        # gate (or the ETA timer) since, and a retiring worker must be idle.
        if self._busy() or self._backlog_count() > 0:
            return False
        scaler = service_scaler(
            self.protection.identity.cluster,
            self.settings.service,
            self.settings.min_workers,
            self.settings.aws_conn_id or None,
        )
        return bool(
            scaler.retire_one(
                self.retire_lock_url, still_idle=lambda: not self._busy() and self._backlog_count() == 0
            )
        )

    # -- shutdown -------------------------------------------------------------------------------------------------
    def _stop_for_shutdown(self) -> None:
        """On the main thread, as the consumer stops: stop consuming, return what has not started."""
        self.state, _ = machine.step(self.state, Sigterm())
        self._pause()
        # Redis: a BRPOP still outstanding on the consumer's connection would take the messages we are about to
        # requeue and die with the connection (seen with kombu 5.4). Read it now: kombu requeues what it brings.
        channel: Any = getattr(self.consumer.task_consumer, "channel", None)
        if getattr(channel, "_in_poll", None):
            with contextlib.suppress(Exception):
                channel._brpop_read()
        active = set(worker_state.active_requests)
        waiting = [r for r in self.waiting_at_shutdown if r not in active and not r.acknowledged]
        for request in waiting:
            return_to_queue(request)
        if self.shutdown_how == "Cold":
            # Celery ends the running tasks at once: their messages go back too, before the process exits.
            running = [r for r in worker_state.active_requests if not r.acknowledged]
            for request in running:
                return_to_queue(request)
            log.warning(
                "ecsops scale-in: cold shutdown (SIGTERM remapped to SIGQUIT): returned %d received-not-started "
                "message(s) %s and %d running task(s) %s to the queue",
                len(waiting),
                [r.id for r in waiting],
                len(running),
                [r.id for r in running],
            )
            self._write_status()
            return
        running_ids = [r.id for r in worker_state.active_requests]
        left = self.settings.stop_timeout_seconds - self.settings.stop_margin_seconds
        left -= time.monotonic() - (self.shutdown_at or time.monotonic())
        log.warning(
            "ecsops scale-in: SIGTERM, stopped consuming; returned %d received-not-started message(s) to the "
            "queue %s; %d running task(s) %s get %.0fs more",
            len(waiting),
            [r.id for r in waiting],
            len(running_ids),
            running_ids,
            left,
        )
        self._write_status()

    def _deadline_watchdog(self) -> None:
        """A thread that never touches the channel: at the deadline it makes Celery requeue, not ack, the
        overdue requests, and ends their pool processes; Celery then sends the requeues on its main thread."""
        assert self.shutdown_at is not None
        deadline = self.shutdown_at + self.settings.stop_timeout_seconds - self.settings.stop_margin_seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)
        if (
            self.shutdown_how != "Warm"
            or machine.RETURN_RUNNING not in machine.step(self.state, machine.Deadline())[1]
        ):
            return
        running = [r for r in list(worker_state.active_requests) if not r.acknowledged]
        if not running:
            return
        for request in running:
            requeue = request._on_reject  # a promise deferred to the loop (or Hub.close) on the main thread
            request._on_ack = lambda logger, errors, _requeue=requeue: _requeue(logger, errors, True)
            request._on_reject = lambda logger, errors, requeue=False, _requeue=requeue: _requeue(
                logger, errors, True
            )
        log.error(
            "ecsops scale-in: stop timeout minus margin reached with %d task(s) still running %s: returned their "
            "messages to the queue, ending their processes before SIGKILL",
            len(running),
            [r.id for r in running],
        )
        for request in running:
            if request.worker_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(request.worker_pid, signal.SIGKILL)
        # Celery 5.4's pool.join() may not return after that: then a cold shutdown, which Celery's own handler
        # runs on the main thread, ends the pool and the hub (sending the requeues) before ECS's SIGKILL.
        time.sleep(min(1.0, self.settings.stop_margin_seconds / 2))
        os.kill(os.getpid(), signal.SIGQUIT)


def backoff_cap_seconds(settings: Any) -> float:
    """The longest backoff after a failed call: what one verification interval leaves after a whole protection
    call and a tick (so a paused worker recovers within it, see :func:`recovery_bound_seconds`), at least a
    tick, at most 30 s.

    :param settings: the worker's ``ScaleInSettings``.
    """
    left = settings.idle_verify_seconds - PROTECTION_CALL_MAX_SECONDS - settings.tick_seconds
    return max(settings.tick_seconds, min(30.0, left))


def recovery_bound_seconds(settings: Any) -> float:
    """How long after a protection fault ends a paused worker at most waits before its next protection call
    succeeds: the call in flight as the fault ends (its whole budget), the backoff cap, a tick to start the
    next call. With the defaults that is the verification interval (20 s); never less than one protection call.

    :param settings: the worker's ``ScaleInSettings``.
    """
    return PROTECTION_CALL_MAX_SECONDS + backoff_cap_seconds(settings) + settings.tick_seconds


def _one_line(error: object, setting: str) -> str:
    text = " ".join(str(error).split())
    if text.startswith("[ecsops]"):
        return text
    return f"[ecsops] {setting}: {text}"
