"""Guarded Celery worker processes on RabbitMQ and on SQS (moto server): every task runs, nothing is lost on
SIGTERM, and the backlog check lets an idle worker drain, release and revive instead of wedging it."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter

import boto3
import pytest
from kombu import Connection

from airflow_provider_ecsops.scalein.backlog import BrokerBacklog
from airflow_provider_ecsops.scalein.sqs_polls import return_polls_of_paused_queues
from airflow_provider_ecsops.testing.broker_rigs import BrokerRig, rabbitmq_rig, sqs_rig
from tests.scalein.helpers import executions, wait_until

RIGS = {"rabbitmq": rabbitmq_rig, "sqs": sqs_rig}


@pytest.fixture(params=["rabbitmq", "sqs"])
def rig(request):
    with RIGS[request.param]() as opened:
        yield opened


def guarded_worker(start_worker, fake_agent, rig: BrokerRig, name: str, concurrency: int, **settings: str):
    return start_worker(
        name,
        fake_agent.add_task(),
        concurrency=concurrency,
        broker_url=rig.url,
        queue=rig.queue,
        **settings,
    )


def executed_ids(broker: str) -> list[str]:
    return [task_id for task_id, _, _ in executions(broker)]


def loop_stall_seconds(rig: BrokerRig) -> float:
    """How long one empty SQS long poll blocks the worker's event loop: kombu 5.5's HTTP client (urllib3) polls
    synchronously on the loop, so each poll of an empty queue stalls results, acks and the guard's ticks for the
    poll's wait (kombu's default 10 s; celery/kombu#2258); 5.4 and 5.6+ poll with pycurl, off the loop."""
    import kombu

    return 10.0 if rig.name == "sqs" and kombu.VERSION[:2] == (5, 5) else 0.0


def assert_no_timer_errors(log: str) -> None:
    assert "Error in timer" not in log and "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_tasks_sent_while_the_worker_runs_complete_once_then_it_releases_and_revives(
    rig, concurrency, fake_agent, start_worker, broker
):
    worker = guarded_worker(start_worker, fake_agent, rig, f"steady-{rig.name}", concurrency)
    task_arn = list(fake_agent.tasks)[-1]
    sent = []
    for _ in range(12):
        sent.append(rig.send(seconds=0.2))
        time.sleep(0.05)
    wait_until(lambda: set(sent) <= set(executed_ids(broker)), timeout=60, what="every task executed")
    # Noticing idleness takes a result and an ack per task through the loop: on kombu 5.5 + SQS, a stall each.
    stall = loop_stall_seconds(rig)
    worker.wait_for_log("draining -> released", timeout=30 + 4 * stall)
    # On SQS the release waits for the paused queue's open long poll (kombu's wait, 10 s): a late answer may
    # also revive the worker once more before it (scalein/sqs_polls.py).
    poll_wait = 10.0 if rig.name == "sqs" else 0.0
    waited = time.monotonic()
    try:
        wait_until(
            lambda: fake_agent.protected_tasks() == [], timeout=10 + 2 * poll_wait, what="protection released"
        )
    except AssertionError as failed:
        raise AssertionError(f"{failed}; worker log (end):\n{worker.log()[-4000:]}") from None
    print(
        f"{rig.name} concurrency {concurrency}: released {time.monotonic() - waited:.1f}s after the first release"
    )
    time.sleep(1.5)  # several released ticks, each counting the backlog on the broker
    assert BrokerBacklog(rig.url).count([rig.queue]) == 0

    # On SQS a worker may release and revive more than once before this point: a long poll answered after the
    # pause hands its messages back (scalein/sqs_polls.py), which makes them a backlog again. So "idle again"
    # is one more release than now, not a fixed count.
    releases = worker.log().count("draining -> released")
    late = rig.send(seconds=0.0)
    wait_until(lambda: late in executed_ids(broker), timeout=30 + 2 * stall, what="the late task executed")
    # Up to 90 s: on SQS each late long poll (10 s) that hands messages back can revive the worker once more;
    # 30 s ran out on MWAA 2.11.0 at concurrency 4 under load (the late task had run).
    wait_until(lambda: worker.log().count("draining -> released") > releases, timeout=90, what="idle again")
    ran = executed_ids(broker)
    assert Counter(ran) == Counter([*sent, late]), "each task exactly once"
    log = worker.log()
    assert "released -> busy" in log, "the backlog count saw the late message and revived the worker"
    protection = [
        e["enabled"]
        for e in fake_agent.state()["history"]
        if e["call"] == "UpdateTaskProtection" and e["task"] == task_arn
    ]
    assert protection[-2:] == [True, False] and False in protection[:-2], (
        "released, protected again, released"
    )
    assert_no_timer_errors(log)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_sigterm_at_a_random_moment_while_tasks_arrive_loses_no_message(
    rig, concurrency, fake_agent, start_worker, broker, record_property
):
    seed = random.randrange(1_000_000)
    delay = random.Random(seed).uniform(0.3, 2.0)
    first = guarded_worker(
        start_worker,
        fake_agent,
        rig,
        f"first-{rig.name}",
        concurrency,
        stop_timeout_seconds="30",
        stop_margin_seconds="5",
    )
    sent: list[str] = []

    def produce() -> None:
        for _ in range(30):
            sent.append(rig.send(seconds=0.3))
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(delay)
    first.terminate()
    assert first.process.wait(40) == 0, first.log()[-3000:]
    producer.join(30)
    assert_no_timer_errors(first.log())

    second = guarded_worker(start_worker, fake_agent, rig, f"second-{rig.name}", concurrency)
    with contextlib.suppress(AssertionError):  # reported below, with what was lost
        wait_until(
            lambda: set(sent) <= set(executed_ids(broker)), timeout=60, what="every sent task executed"
        )
    time.sleep(1)  # a duplicate delivery would show up now
    ran = Counter(executed_ids(broker))
    lost = [task_id for task_id in sent if task_id not in ran]
    twice = sum(n - 1 for n in ran.values() if n > 1)
    on_first = sum(1 for _, worker, _ in executions(broker) if worker == f"first-{rig.name}")
    report = (
        f"{rig.name} concurrency {concurrency}: SIGTERM after {delay:.2f}s (seed {seed}); sent {len(sent)}, "
        f"ran on the stopping worker {on_first}, lost {len(lost)} {lost}, ran twice {twice}, "
        f"still ready in the queue {BrokerBacklog(rig.url).count([rig.queue])}"
    )
    print(report)
    record_property("report", report)
    assert not lost, report
    assert_no_timer_errors(second.log())


def test_an_sqs_poll_answered_after_the_pause_gives_its_messages_back_at_once():
    """The helper the guard installs on SQS channels (``scalein.sqs_polls``), on kombu's real SQS channel."""
    with sqs_rig() as rig, Connection("sqs://") as connection:
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName=rig.queue)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        channel = connection.channel()
        # What the poll in flight brings back once nobody consumes the queue any more.
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
        assert len(answer["Messages"]) == 1 and BrokerBacklog("sqs://").count([rig.queue]) == 0
        with pytest.raises(KeyError):  # kombu as shipped: the worker would stop here
            channel._on_messages_ready(url, rig.queue, answer)
        return_polls_of_paused_queues(channel)
        channel._on_messages_ready(url, rig.queue, answer)
        assert BrokerBacklog("sqs://").count([rig.queue]) == 1, (
            "visible again, not after the visibility timeout"
        )


def pending_polls(hub, queue: str) -> int:
    """How many poll-loop steps for ``queue`` wait on ``hub`` (kombu's ``_loop1`` -> ``_schedule_queue``)."""
    return sum(1 for item in hub._ready if getattr(item, "args", None) == (queue,))


def test_a_resume_while_the_paused_queues_poll_loop_still_runs_starts_no_second_loop():
    """The guard pauses and resumes within one turn of the event loop (at start, at a revive): kombu as shipped
    then runs two poll loops for the queue, each long-polling in turn (the worker that stayed busy on SQS,
    concurrency 4). Real kombu SQS channel and Hub against the moto server; no poll is run."""
    from kombu.asynchronous import Hub, set_event_loop

    from airflow_provider_ecsops.scalein.sqs_polls import prepare_sqs_channel

    def consume_cancel_consume(prepare: bool) -> int:
        hub = Hub()
        set_event_loop(hub)
        try:
            with Connection("sqs://", transport_options={"region": "us-east-1"}) as connection:
                channel = connection.channel()
                channel.hub = hub
                if prepare:
                    prepare_sqs_channel(channel)
                channel.basic_consume(rig.queue, False, lambda message: None, "first")
                channel.basic_cancel("first")  # paused, the loop's next step still scheduled ...
                channel.basic_consume(rig.queue, False, lambda message: None, "second")  # ... resumed
                return pending_polls(hub, rig.queue)
        finally:
            set_event_loop(None)
            hub.close()

    with sqs_rig() as rig:
        assert consume_cancel_consume(prepare=False) == 2, "kombu as shipped: a second loop"
        assert consume_cancel_consume(prepare=True) == 1


def test_a_poll_counts_as_open_from_sent_until_answered_and_the_paused_queue_opens_no_more():
    """``sqs_polls.open_polls``, which the guard waits on before it releases protection, on kombu's real SQS
    channel, Hub and HTTP client against the moto server. kombu 5.6's curl client polls asynchronously: the poll
    is open across turns of the loop, when the guard's tick can see it. Older kombu polls synchronously, inside
    one turn: the tick can never run while one is open, and the count must read 0 between turns."""
    from kombu.asynchronous import Hub, set_event_loop

    from airflow_provider_ecsops.scalein.sqs_polls import open_polls, prepare_sqs_channel

    with sqs_rig() as rig:
        hub = Hub()
        set_event_loop(hub)
        try:
            options = {"region": "us-east-1", "wait_time_seconds": 1}
            with Connection("sqs://", transport_options=options) as connection:
                channel = connection.channel()
                channel.hub = hub
                prepare_sqs_channel(channel)
                sent = []
                get_async = channel._get_async
                channel._get_async = lambda *a, **k: (sent.append(time.monotonic()), get_async(*a, **k))[1]
                channel.basic_consume(rig.queue, False, lambda message: None, "c")
                loop = hub.create_loop()

                def turns(seconds: float) -> list[int]:
                    seen, end = [], time.monotonic() + seconds
                    while time.monotonic() < end:
                        next(loop)
                        seen.append(open_polls(channel))
                    return seen

                consuming = turns(3.5)
                polls_while_consuming = len(sent)
                channel.basic_cancel("c")  # the guard's pause
                paused = turns(3.0)
        finally:
            set_event_loop(None)
            hub.close()
    assert polls_while_consuming >= 2, f"the queue was long-polled ({polls_while_consuming} polls)"
    if "Curl" in type(getattr(hub, "_current_http_client", None)).__name__:
        assert max(consuming) == 1 and 0 in consuming, consuming
    else:
        assert max(consuming) == 0, consuming
    assert paused[-1] == 0 and len(sent) <= polls_while_consuming + 1, "the paused queue's loop ended"
