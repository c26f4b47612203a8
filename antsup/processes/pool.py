"""The queue manager's view of the worker processes: dispatch, outcomes, crashes, timeouts.

A worker runs its jobs first in, first out and reports each outcome before it starts its next
job, so the queue manager always knows which of a worker's jobs were running (the first
`threads` outstanding) and which only waited. When a worker dies, the running ones fail an
attempt (named after the signal or exit code the pool supervisor reports) and the waiting ones
go back without using one.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from antsup.config import Config
from antsup.core import Event, JobRecord, Machine, default_backoff
from antsup.errors import DecodeError
from antsup.job import run_wire
from antsup.processes.channel import Channel
from antsup.processes.exits import ExitReports
from antsup.processes.peers import WorkerPeer
from antsup.processes.wire import is_worker_message
from antsup.supervisor.kernel import is_alive

#: Seconds a worker that was running jobs before a queue manager restart has to reconnect.
RECONNECT_GRACE = 5.0
#: Seconds to wait for the pool supervisor to say how a worker that was running jobs ended.
EXIT_REPORT_WAIT = 2.0

Failure = tuple[int, str, str | None, float]

log = logging.getLogger("antsup.queue_manager")


class Pool:
    def __init__(
        self,
        config: Config,
        machine: Machine,
        exits: ExitReports,
        record: Callable[[list[Event]], None],
        publish: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.machine = machine
        self.exits = exits
        self.record = record
        self.publish = publish
        self.peers: dict[Connection, WorkerPeer] = {}
        #: Running jobs found by replay whose worker has not reconnected yet: pid -> deadline.
        self.awaited_pids: dict[int, float] = {}
        #: Workers gone while running jobs, waiting for their exit report: pid -> deadline.
        self.dead_peers: dict[int, tuple[WorkerPeer, float]] = {}
        self.timeouts: list[tuple[float, int, int]] = []  # (deadline, job id, pid)
        self.finished_total = 0
        self.crashes = 0
        #: Set when the tree is stopping: no new job goes out.
        self.quiesced = False
        #: Whether anyone subscribed to events (building them costs time on the hot path).
        self.events_wanted = False

    @property
    def concurrency(self) -> int:
        """The most jobs the workers can run at once: a queue limited at or above it cannot be
        overrun, so workers may hold its jobs ahead. Counts the workers connected, should
        there be more than configured (a pool grown through the supervisor API)."""
        return max(self.config.workers, len(self.peers)) * self.config.threads

    def next_deadline(self) -> float | None:
        """The earliest monotonic time something here must be looked at again."""
        times = [at for _, at in self.dead_peers.values()] + list(self.awaited_pids.values())
        return min(times) if times else None

    # ---- connections ----------------------------------------------------------------------

    def connect(self, channel: Channel, hello: list[Any], rest: list[Any], now: float) -> bool:
        """["hello", pid, capacity, held_ids, outcomes]: a worker (re)connected; `rest` are the
        messages that came right after it. False (and the connection closed) if the hello is
        malformed."""
        if not is_worker_message(hello) or hello[0] != "hello":
            channel.close()
            return False
        _, pid, capacity, held_ids, outcomes = hello
        channel.set_backlog(0)  # a worker's traffic is bounded by its capacity
        peer = WorkerPeer(channel, pid, capacity, self.config.threads)
        self.peers[channel.conn] = peer
        self.awaited_pids.pop(pid, None)

        claimed = set(held_ids) | {outcome[0] for outcome in outcomes}
        mine = {job.id for job in self.machine.running_jobs(pid)}
        for job_id in held_ids:
            if job_id in mine:
                peer.outstanding[job_id] = None
        self.record(self.machine.put_back(sorted(mine - claimed), now))
        self.on_outcomes(peer, outcomes, now)
        self._handle(peer, rest, now)
        return True

    def receive(self, conn: Connection, now: float) -> None:
        """Read every message waiting from one worker."""
        peer = self.peers[conn]
        try:
            messages = peer.channel.receive()
        except (EOFError, DecodeError):
            self._gone(peer, time.time())
            return
        self._handle(peer, messages, now)

    def _handle(self, peer: WorkerPeer, messages: list[Any], now: float) -> None:
        """A worker's messages in order; the outcomes of consecutive "out" messages (a worker
        sends one per job) are taken as one batch: one event per batch, not per job."""
        outcomes: list[list[Any]] = []
        for message in messages:
            if not is_worker_message(message) or message[0] == "hello":
                log.warning("malformed message from worker %d: disconnected", peer.pid)
                if outcomes:
                    self.on_outcomes(peer, outcomes, now)
                self._gone(peer, time.time())
                return
            if message[0] == "out":
                outcomes.extend(message[1])
                continue
            if outcomes:
                self.on_outcomes(peer, outcomes, now)
                outcomes = []
            if message[0] == "draining":
                peer.draining = True
                for job_id in message[1]:
                    peer.outstanding.pop(job_id, None)
                self.record(self.machine.put_back(message[1], now))
        if outcomes:
            self.on_outcomes(peer, outcomes, now)

    def on_outcomes(self, peer: WorkerPeer, outcomes: list[list[Any]], now: float) -> None:
        """[id, "done", result] | [id, "fail", error, stack, retry_in | None]."""
        done: list[tuple[int, Any]] = []
        failed: list[Failure] = []
        for outcome in outcomes:
            job_id = outcome[0]
            job = self.machine.get(job_id)
            started = None  # stays None for an outcome sent again (not outstanding any more)
            if job_id in peer.outstanding:
                started = peer.outstanding.pop(job_id)
                if started is None:  # it entered a running slot and ended within this batch
                    started = now
                    if job is not None and self.events_wanted:
                        self._publish_start(job, now)
                peer.observe(now - started)
            if outcome[1] == "done":
                done.append((job_id, outcome[2]))
            else:
                retry_in = outcome[4]
                if retry_in is None:
                    retry_in = default_backoff(job.attempts if job else 1)
                failed.append((job_id, outcome[2], outcome[3], float(retry_in)))
            if job is not None and self.events_wanted:
                self._publish_outcome(job, outcome, started, now)
        self.record(self.machine.complete(done, now))
        self.record(self.machine.fail(failed, now))
        self.finished_total += len(outcomes)
        self._track_starts(peer, now)
        peer.acks.extend(outcome[0] for outcome in outcomes)

    def _gone(self, peer: WorkerPeer, now: float) -> None:
        """A worker's connection closed: it exited, crashed, or was killed for a timeout."""
        del self.peers[peer.conn]
        peer.close()
        running, waiting = peer.running_and_waiting()
        if peer.draining or self.quiesced:  # cut off by shutdown: not the jobs' fault
            self.record(self.machine.put_back(running + waiting, now))
            return
        self.crashes += 1
        self.record(self.machine.put_back(waiting, now))
        self.exits.receive()
        if peer.timed_out is not None or not running or self.exits.has(peer.pid):
            self._fail_crashed(peer, now)
        else:  # its running jobs fail once we know how it died (or after EXIT_REPORT_WAIT)
            self.dead_peers[peer.pid] = (peer, time.monotonic() + EXIT_REPORT_WAIT)

    def on_exit_reports(self, now: float) -> None:
        for pid in self.exits.receive():
            if pid in self.dead_peers:
                self._fail_crashed(self.dead_peers.pop(pid)[0], now)

    def _fail_crashed(self, peer: WorkerPeer, now: float) -> None:
        """Fail the attempt of each job that was running in a dead worker; put back the others."""
        how = self.exits.pop(peer.pid) or "exit status unknown"
        running, _ = peer.running_and_waiting()
        failed: list[Failure] = []
        put_back = []
        for job_id in running:
            job = self.machine.get(job_id)
            if job is None or job.worker_pid != peer.pid:
                continue  # finished, cancelled or deleted meanwhile
            if peer.timed_out is not None and job_id != peer.timed_out:
                put_back.append(job_id)  # killed along with the job that timed out
                continue
            if job_id == peer.timed_out:
                error = f"job timed out after {(job.opts or {}).get('timeout')} s"
            else:
                error = f"worker process {peer.pid} died ({how}) while running the job"
            failed.append((job_id, error, None, crash_backoff(job)))
        if failed:
            log.warning(
                "worker %d died (%s) running jobs %s", peer.pid, how, [f[0] for f in failed]
            )
        self.record(self.machine.put_back(put_back, now))
        self._fail(failed, now)

    def _fail(self, failed: list[Failure], now: float) -> None:
        """Fail attempts that ended without an outcome (crash, timeout, lost worker)."""
        if self.events_wanted:
            for job_id, error, _, retry_in in failed:
                job = self.machine.get(job_id)
                if job is not None:
                    outcome = [job_id, "fail", error, None, retry_in]
                    self._publish_outcome(job, outcome, None, now)
        self.record(self.machine.fail(failed, now))

    def adopt_running_jobs(self, now: float) -> None:
        """After a restart: running jobs wait for their worker to reconnect, or fail if it died."""
        by_pid: dict[int, list[int]] = {}
        for job in self.machine.running_jobs():
            by_pid.setdefault(job.worker_pid or 0, []).append(job.id)
        for pid, ids in by_pid.items():
            if pid and is_alive(pid):
                self.awaited_pids[pid] = time.monotonic() + RECONNECT_GRACE
            else:
                self._fail_orphans(ids, pid, now)

    def _fail_orphans(self, ids: list[int], pid: int, now: float) -> None:
        failures: list[Failure] = []
        for job_id in ids:
            job = self.machine.get(job_id)
            if job is not None:
                error = f"worker process {pid} was gone when the queue manager restarted"
                failures.append((job_id, error, None, crash_backoff(job)))
        self._fail(failures, now)

    # ---- timers, dispatch -----------------------------------------------------------------

    def housekeeping(self, now: float) -> None:
        clock = time.monotonic()
        for pid, (peer, deadline) in list(self.dead_peers.items()):
            if clock >= deadline:
                del self.dead_peers[pid]
                self._fail_crashed(peer, now)
        for pid, deadline in list(self.awaited_pids.items()):
            if clock >= deadline:
                del self.awaited_pids[pid]
                self._fail_orphans([job.id for job in self.machine.running_jobs(pid)], pid, now)
        self._check_timeouts(now)
        self._dispatch(now)

    def _dispatch(self, now: float) -> None:
        """Idle running slots first (so no worker idles while another prefetches), then the
        prefetch allowance."""
        if self.quiesced:
            return
        for slots in (WorkerPeer.idle_slots, WorkerPeer.free):
            for peer in sorted(self.peers.values(), key=slots, reverse=True):
                wanted = slots(peer)
                if wanted <= 0:
                    break
                records, events = self.machine.dispatch(wanted, peer.pid, now, self.concurrency)
                if not records:
                    return
                self.record(events)
                for record in records:
                    peer.outstanding[record.id] = None
                peer.runs.extend(run_wire(record) for record in records)
                self._track_starts(peer, now)

    def flush(self, after_durable: Callable[[Callable[[], None]], None]) -> None:
        """One message per worker per iteration: its new jobs and the outcomes we acknowledge."""
        for peer in self.peers.values():
            if peer.runs or peer.acks:
                after_durable(peer.take_message())

    def _track_starts(self, peer: WorkerPeer, now: float) -> None:
        """Jobs that just moved into the worker's running slots: timeout clock, start event."""
        for job_id in peer.mark_started(now):
            job = self.machine.get(job_id)
            if job is None:
                continue
            timeout = (job.opts or {}).get("timeout")
            if timeout:
                heapq.heappush(self.timeouts, (now + float(timeout), job_id, peer.pid))
            if self.events_wanted:
                self._publish_start(job, now)

    def _publish_start(self, job: JobRecord, now: float) -> None:
        self.publish("job:start", {**_describe(job), "queued_for": now - _queued_since(job)})

    def _check_timeouts(self, now: float) -> None:
        while self.timeouts and self.timeouts[0][0] <= now:
            _, job_id, pid = heapq.heappop(self.timeouts)
            peer = next((p for p in self.peers.values() if p.pid == pid), None)
            if peer is None or job_id not in peer.outstanding or peer.timed_out is not None:
                continue
            peer.timed_out = job_id
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the attempt fails when its connection closes

    def _publish_outcome(
        self, job: JobRecord, outcome: list[Any], started: float | None, now: float
    ) -> None:
        data = {
            **_describe(job),
            "duration": None if started is None else now - started,
            "queued_for": None if started is None else started - _queued_since(job),
        }
        if outcome[1] == "done":
            self.publish("job:success", data)
            return
        self.publish("job:failure", {**data, "error": outcome[2]})
        if job.attempts < job.max_attempts:
            retry_in = outcome[4] if outcome[4] is not None else default_backoff(job.attempts)
            self.publish("job:retry", {**_describe(job), "retry_at": now + float(retry_in)})


def crash_backoff(job: JobRecord) -> float:
    """Seconds before retrying an attempt that ended with its process: the worker class's own
    `backoff()` cannot be asked any more, so the delays it gave at enqueue time are used
    (`opts["backoff"]`, one per attempt), else the default formula."""
    delays = (job.opts or {}).get("backoff")
    if isinstance(delays, list) and 0 < job.attempts <= len(delays):
        delay = delays[job.attempts - 1]
        if type(delay) in (int, float) and delay >= 0:
            return float(delay)
    return default_backoff(job.attempts)


def _queued_since(job: JobRecord) -> float:
    """When the job became due: its scheduled time, or its insertion."""
    return job.scheduled_at or job.inserted_at


def _describe(job: JobRecord) -> dict[str, Any]:
    return {"id": job.id, "worker": job.worker, "queue": job.queue, "attempt": job.attempts}
