"""A worker process: receives jobs from the queue manager, runs them, reports outcomes.

Outcomes are sent before the next job starts, so when this process dies the queue manager knows
exactly which jobs were running (they fail an attempt) and which only waited (they go back).
Outcomes stay here until the queue manager acknowledges them (after journaling), and are sent
again after a reconnect, so a queue manager restart loses no result and runs nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Client, Connection
from typing import Any

from antsup.config import Config, read_authkey
from antsup.errors import DecodeError
from antsup.execution import Outcome, is_async, run_async, run_sync
from antsup.job import Job
from antsup.logs import forward_logs
from antsup.processes.poller import Poller
from antsup.processes.recycling import MemoryWatch
from antsup.processes.signals import StopSignal
from antsup.processes.wire import readable, recv, send
from antsup.supervisor import ChildContext

log = logging.getLogger("antsup.worker")

#: Seconds a stopping worker waits for its last outcomes to be acknowledged.
ACK_GRACE = 2.0


def run(ctx: ChildContext, config_wire: dict[str, Any]) -> None:
    """Entry point (child spec template `antsup.processes.worker:run` of the pool)."""
    config = Config.from_wire(config_wire)
    forward_logs(config.log_address, "worker", config.log_level)
    for module in config.modules:
        importlib.import_module(module)
    WorkerProcess(config, StopSignal()).loop()


class WorkerProcess:
    def __init__(self, config: Config, stop: StopSignal) -> None:
        self.config = config
        self.stop = stop
        self.authkey = read_authkey(config.data_path)
        self.threads = config.threads
        self.waiting: deque[Job] = deque()
        self.running: dict[int, Job] = {}
        self.unsent: list[Outcome] = []
        self.unacked: dict[int, Outcome] = {}
        self.finished = 0
        self.draining = False
        self.completions: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.pool: ThreadPoolExecutor | None = None
        self.loop_thread: AsyncLoop | None = None
        self.poller = Poller()
        #: Guards what the memory watchdog's thread touches too: the connection, the queue.
        self.lock = threading.RLock()
        self.memory = MemoryWatch(config.max_memory_per_worker, self._over_memory)
        self.conn = self._connect()

    # ---- connection -------------------------------------------------------------------

    def _connect(self) -> Connection:
        """(Re)connect to the queue manager and say who we are and what we hold."""
        while True:
            try:
                conn = Client(self.config.address, family="AF_UNIX", authkey=self.authkey)
                break
            except (FileNotFoundError, ConnectionRefusedError, EOFError, OSError):
                if self.stop.requested and not self.running:
                    raise SystemExit(0) from None
                time.sleep(0.02)  # the queue manager is restarting: its socket is not back yet
        held = [*self.running, *(job.id for job in self.waiting)]
        outcomes = [*self.unacked.values(), *self.unsent]
        capacity = self.threads + self.config.prefetch
        send(conn, ["hello", os.getpid(), capacity, held, outcomes])
        self.unacked.update((outcome[0], outcome) for outcome in self.unsent)
        self.unsent = []
        return conn

    def _receive(self) -> None:
        try:
            while True:
                self._handle(recv(self.conn))
                if not readable(self.conn):
                    return
        except (EOFError, OSError, DecodeError):
            self.conn.close()
            self.conn = self._connect()

    def _handle(self, message: list[Any]) -> None:
        if message[0] == "run":  # ["run", new jobs, acknowledged outcome ids]
            self.waiting.extend(Job.from_run_wire(wire) for wire in message[1])
            for job_id in message[2]:
                self.unacked.pop(job_id, None)

    def _flush(self) -> None:
        if not self.unsent:
            return
        try:
            send(self.conn, ["out", self.unsent])
        except OSError:
            return  # the queue manager is gone: _receive reconnects and resends
        self.unacked.update((outcome[0], outcome) for outcome in self.unsent)
        self.unsent = []

    # ---- the loop -----------------------------------------------------------------------

    def loop(self) -> None:
        try:
            while True:
                self._start_jobs()
                with self.lock:
                    self._flush()
                    if self.draining and not self.running:
                        break
                ready = self.poller.wait([self.conn, self.stop, self.wake_r], None)
                if self.stop in ready:
                    self.stop.drain()
                if self.wake_r in ready:
                    with self.lock:
                        self._collect()
                if self.conn in ready:
                    with self.lock:
                        self._receive()
                with self.lock:
                    if self.stop.requested and not self.draining:
                        self._drain("stopping")
            self._flush()
            self._await_acks()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=False)
            if self.loop_thread is not None:
                self.loop_thread.stop()

    def _drain(self, reason: str) -> None:
        """Stop taking jobs: hand the waiting ones back, finish the running ones, then exit."""
        log.info("worker %d retiring: %s", os.getpid(), reason)
        self.draining = True
        self._flush()
        with contextlib.suppress(EOFError, OSError, DecodeError):
            while readable(self.conn):  # jobs already sent to us go back too
                self._handle(recv(self.conn))
        ids = [job.id for job in self.waiting]
        self.waiting.clear()
        with contextlib.suppress(OSError):
            send(self.conn, ["draining", ids])

    def _start_jobs(self) -> None:
        while True:
            with self.lock:  # the memory watchdog may drain us from its thread meanwhile
                if not self.waiting or len(self.running) >= self.threads or self.draining:
                    return
                if self.stop.requested:
                    return
                if self.finished and self.memory.over():  # a fresh worker is never retired
                    self._drain(f"{self.memory.rss()} bytes resident, over max_memory_per_worker")
                    return
                self._flush()  # outcomes first: the queue manager must know what runs now
                job = self.waiting.popleft()
                self.running[job.id] = job
                inline = self.threads == 1 and not is_async(job)
                if not inline:
                    self._submit(job)
                    continue
            outcome = run_sync(job)  # outside the lock: the watchdog can act during the job
            with self.lock:
                del self.running[job.id]
                self._finished(outcome)

    def _submit(self, job: Job) -> None:
        if is_async(job):
            if self.loop_thread is None:
                self.loop_thread = AsyncLoop()
            self.loop_thread.submit(run_async(job), self._on_done)
        else:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="antsup-job")
            self.pool.submit(run_sync, job).add_done_callback(self._on_done)

    def _on_done(self, future: Future[Outcome]) -> None:
        """In a job thread: hand the outcome to the main loop."""
        self.completions.put(future.result())
        self._wake()

    def _over_memory(self) -> None:
        """From the watchdog thread, during a job: retire now (the job still finishes)."""
        with self.lock:
            if not self.draining and self.running:
                self._drain(f"{self.memory.rss()} bytes resident, over max_memory_per_worker")
        self._wake()

    def _wake(self) -> None:
        """From another thread: make the main loop look around."""
        os.write(self.wake_w, b"\0")

    def _collect(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 65536)
        while True:
            try:
                outcome = self.completions.get_nowait()
            except queue.Empty:
                return
            self.running.pop(outcome[0], None)
            self._finished(outcome)

    def _finished(self, outcome: Outcome) -> None:
        self.unsent.append(outcome)
        self.finished += 1
        limit = self.config.max_jobs_per_worker
        if limit is not None and self.finished >= limit and not self.draining:
            self._drain("recycled after max_jobs_per_worker")

    def _await_acks(self) -> None:
        deadline = time.monotonic() + ACK_GRACE
        while self.unacked and time.monotonic() < deadline:
            if readable(self.conn, deadline - time.monotonic()):
                try:
                    message = recv(self.conn)
                except (EOFError, OSError, DecodeError):
                    return
                self._handle(message)


class AsyncLoop:
    """An event loop in its own thread, where `async def perform` jobs run side by side."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Any, done: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).add_done_callback(done)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
