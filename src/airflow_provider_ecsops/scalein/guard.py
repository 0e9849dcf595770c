"""The worker guard: a Celery consumer bootstep in the worker's main process.

Invariant: the worker consumes only while its ECS task is protected from scale-in. States:

- ``busy``: consuming and protected (renewed before expiry while anything is reserved or active); after an
  idle grace period it pauses consuming and moves on to
- ``draining``: idle, so consumption is paused; still protected while late messages may arrive; a message
  received now, or one waiting in the backlog, revives the worker (back to ``busy``);
- ``released``: idle for the whole verification interval, protection off, not consuming. The guard watches
  the backlog; when work waits it protects first, then resumes consuming. With self-retire it lowers the
  service's desiredCount by one and shuts down warm instead.

All transitions run on the consumer's event loop (its timer and ``task_received``), so they never race.
SIGTERM (``worker_shutting_down``): consumption stops at once, messages received but not started go back to
the queue, running tasks get the stop timeout minus a margin; then their messages go back too and the worker
shuts down cold.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from celery import bootsteps, signals
from celery.worker import state as worker_state

from airflow_provider_ecsops.scalein.backlog import backlog_source
from airflow_provider_ecsops.scalein.protection import ProtectionError, TaskProtection
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

log = logging.getLogger(__name__)

BUSY, DRAINING, RELEASED = "busy", "draining", "released"
PROTECTION_RETRY_SECONDS = 30.0


def waiting_requests() -> list[Any]:
    """Requests received by this worker that have not started executing."""
    active = set(worker_state.active_requests)
    return [r for r in worker_state.reserved_requests if r not in active]


def return_to_queue(request: Any) -> None:
    """Give a received, not started message back to its queue now (not after the visibility timeout).

    Redis: reject with requeue restores it from the unacked hash to the head of its list. SQS: the message
    becomes visible again (visibility 0) and is only forgotten locally, never deleted.
    """
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


class ScaleInGuard(bootsteps.StartStopStep):
    """Consumer bootstep keeping protection, consumption and idleness in step (see the module docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.settings = ScaleInSettings.from_airflow_conf()
        self.protection = TaskProtection(
            self.settings.protection_minutes, self.settings.api_attempts, self.settings.aws_conn_id or None
        )
        self.consumer = c
        self.state = BUSY
        self.since = time.monotonic()
        self.idle_since: float | None = None
        self.queues: list[Any] = []
        self.timer_ref: Any = None
        self.shutdown_at: float | None = None
        self.waiting_at_shutdown: list[Any] = []
        self.last_retire_try = 0.0
        self.retry_protection_at = 0.0
        signals.task_received.connect(self.on_task_received, weak=False)
        signals.worker_shutting_down.connect(self.on_shutting_down, weak=False)

    @property
    def backlog(self) -> Any:
        source = getattr(self, "_backlog", None)
        if source is None:
            conf = self.consumer.app.conf
            source = self._backlog = backlog_source(
                self.settings, conf.broker_url or "", conf.broker_transport_options or {}
            )
        return source

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self, c: Any) -> None:
        self.queues = list(c.task_consumer.queues)
        self._protect(True)
        self._enter(BUSY)
        self.timer_ref = c.timer.call_repeatedly(self.settings.tick_seconds, self.tick)
        log.info(
            "ecsops scale-in guard on: queues %s, idle verification %.1fs, self-retire %s",
            [q.name for q in self.queues],
            self.settings.idle_verify_seconds,
            self.settings.self_retire,
        )

    def stop(self, c: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
        if self.shutdown_at is not None:
            self._stop_for_shutdown()

    def shutdown(self, c: Any) -> None:
        signals.task_received.disconnect(self.on_task_received)
        signals.worker_shutting_down.disconnect(self.on_shutting_down)

    # -- events ---------------------------------------------------------------------------------------------------
    def on_task_received(self, sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        if sender is not self.consumer:
            return
        if self.state == RELEASED:
            log.error("ecsops scale-in: task %s received while released; protecting now", request.id)
        if self.state != BUSY:
            log.info("ecsops scale-in: task %s arrived while %s, reviving the worker", request.id, self.state)
            if not self.protection.protected or self._renewal_due():
                self._protect(True)
            self._resume()
            self._enter(BUSY)
        elif self._renewal_due():
            self._protect(True)

    def on_shutting_down(self, sig: Any = None, how: Any = None, **kwargs: Any) -> None:
        # Runs inside Celery's signal handler: only record; the work happens in stop() and the watchdog. The
        # waiting requests are noted now because the consumer forgets them (on_close) before stop() runs.
        if self.shutdown_at is None and how == "Warm":
            self.shutdown_at = time.monotonic()
            self.waiting_at_shutdown = waiting_requests()
            threading.Thread(
                target=self._deadline_watchdog, name="ecsops-scalein-deadline", daemon=True
            ).start()

    def tick(self) -> None:
        if self.shutdown_at is not None:
            return
        busy = bool(worker_state.reserved_requests)
        now = time.monotonic()
        if self.state == BUSY:
            if busy:
                self.idle_since = None
                if self._renewal_due():
                    self._protect(True)
            elif self.idle_since is None:
                self.idle_since = now
            elif now - self.idle_since >= self.settings.idle_grace_seconds:
                self._pause("idle")
                self._enter(DRAINING)
        elif self.state == DRAINING:
            # A message in flight when consumption paused is requeued by kombu, so look at the queue too.
            if busy or self._backlog_count() > 0:
                self._resume()
                self._enter(BUSY)
            elif now - self.since >= self.settings.idle_verify_seconds:
                self._protect(False)
                self._enter(RELEASED)
                self._maybe_retire(now)
        elif self.state == RELEASED:
            if self._backlog_count() > 0:
                self._protect(True)
                self._resume()
                self._enter(BUSY)
            else:
                self._maybe_retire(now)

    # -- helpers --------------------------------------------------------------------------------------------------
    def _enter(self, new_state: str) -> None:
        if new_state != self.state:
            log.info("ecsops scale-in: %s -> %s", self.state, new_state)
        self.state, self.since, self.idle_since = new_state, time.monotonic(), None

    def _backlog_count(self) -> int:
        return self.backlog.count([q.name for q in self.queues])

    def _renewal_due(self) -> bool:
        return (
            self.protection.enabled
            and self.protection.seconds_left() < self.settings.renew_before_minutes * 60
            and time.monotonic() >= self.retry_protection_at
        )

    def _protect(self, enabled: bool) -> None:
        try:
            self.protection.set(enabled)
        except ProtectionError as exc:
            # Availability first: work keeps flowing, but the operator sees exactly why it is unprotected.
            # Renewals wait a while after a failure, so a missing permission is not retried every tick.
            self.retry_protection_at = time.monotonic() + PROTECTION_RETRY_SECONDS
            log.error("ecsops scale-in: %s", exc)

    def _pause(self, why: str) -> None:
        for queue in self.queues:
            self.consumer.task_consumer.cancel_by_queue(queue.name)
        log.info("ecsops scale-in: %s, paused consuming from %s", why, [q.name for q in self.queues])

    def _resume(self) -> None:
        consumer = self.consumer.task_consumer
        for queue in self.queues:
            if not consumer.consuming_from(queue.name):
                consumer.add_queue(queue)
        consumer.consume()

    def _maybe_retire(self, now: float) -> None:
        if not (self.settings.self_retire and self.protection.enabled):
            return
        if now - self.last_retire_try < self.settings.idle_verify_seconds:
            return
        self.last_retire_try = now
        from airflow_provider_ecsops.scalein.retire import RetireLockBusy, service_scaler

        try:
            if self._backlog_count() > 0:
                return
            scaler = service_scaler(
                self.protection.identity.cluster,
                self.settings.service,
                self.settings.min_workers,
                self.settings.aws_conn_id or None,
            )
            if scaler.retire_one(self.settings.retire_lock_url or self.consumer.app.conf.broker_url):
                worker_state.should_stop = (
                    0  # warm shutdown, the way Celery's own SIGTERM handler asks for it
                )
        except RetireLockBusy as exc:
            log.info("ecsops scale-in: not retiring now: %s", exc)
        except Exception:
            log.exception("ecsops scale-in: self-retire failed; staying up")

    def _stop_for_shutdown(self) -> None:
        self._pause("shutting down")
        active = set(worker_state.active_requests)
        waiting = [r for r in self.waiting_at_shutdown if r not in active and not r.acknowledged]
        for request in waiting:
            return_to_queue(request)
        running = [r.id for r in worker_state.active_requests]
        left = self.settings.stop_timeout_seconds - self.settings.stop_margin_seconds
        left -= time.monotonic() - (self.shutdown_at or time.monotonic())
        log.warning(
            "ecsops scale-in: SIGTERM, stopped consuming; returned %d received-not-started message(s) to the "
            "queue %s; %d running task(s) %s get %.0fs more",
            len(waiting),
            [r.id for r in waiting],
            len(running),
            running,
            left,
        )

    def _deadline_watchdog(self) -> None:
        assert self.shutdown_at is not None
        deadline = self.shutdown_at + self.settings.stop_timeout_seconds - self.settings.stop_margin_seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)
        running = list(worker_state.active_requests)
        if not running:
            return
        # Requeue now: left unacked, the messages would only resurface after the broker's visibility timeout
        # (hours). A re-delivered Airflow task whose instance is no longer queued is refused by Airflow itself.
        for request in running:
            try:
                return_to_queue(request)
            except Exception:
                log.exception("ecsops scale-in: could not return %s to the queue", request.id)
        log.error(
            "ecsops scale-in: stop timeout minus margin reached with %d task(s) still running %s: returned their "
            "messages to the queue, cold shutdown before SIGKILL",
            len(running),
            [r.id for r in running],
        )
        os.kill(os.getpid(), signal.SIGQUIT)
