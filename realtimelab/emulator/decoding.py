"""Speech decoding in helper processes, so one session's decode never stalls the others.

Why processes: pocketsphinx holds the GIL while it decodes (measured: a 155 ms decode froze
every other thread for 115 ms), so decoding on a thread stalls the paced audio of every other
session in the emulator (measured: 1 real-time session before, 16 after).

Why not `multiprocessing`: its spawn/forkserver start methods re-import the parent's main
script in every worker, so a user's unguarded script (`asyncio.run(main())` at top level, as in
most examples) would run again inside each worker; and fork is unsafe in a threaded process such
as a Jupyter kernel. These workers are plain `python -m realtimelab.emulator.decoding`
subprocesses that import only this module and `realtimelab.emulator.hearing_decoder`, and talk
over their stdin/stdout. Both ends are this module, in processes we started, so pickle is safe.

**Protocol.** Every message is a length-prefixed pickle. A request is `(request_id, op, args)`;
the worker runs `op` on its `hearing_decoder.DecoderHost` and, unless `request_id` is None,
answers `(request_id, ok, value)` (`value` is the error text when `ok` is False). Requests are
served in order, one at a time, but many may be in flight: in the parent, each worker has a
writer thread that drains a queue (so sending never blocks the caller, e.g. an event loop
streaming audio) and a reader thread that matches answers to futures. Streaming one utterance
is `open` → `append`* → `finish`, all on one worker (a `Channel`); `open`, `append` and
`cancel` are fire-and-forget, so audio streams without a round trip per chunk, and an error on
the way is reported by `finish`. In the worker, `append` only buffers; whenever no request is
waiting (a reader thread fills its inbox), the worker decodes open utterances a 20 ms block at a
time, in turns, so a `finish` finds its utterance decoded up to its last few frames and never
waits behind another utterance's backlog. A failed request leaves the worker running; a worker
that dies fails the requests already sent to it with `WorkerUnavailable` (`WorkerCannotStart`
if it never answered anything) and is replaced by a fresh one when work next arrives.

A worker ignores Ctrl-C (the parent shuts it down) and exits when its stdin closes, so it never
outlives the emulator.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import IO, Any

_HEADER = struct.Struct(">I")


class WorkerUnavailable(RuntimeError):
    """A decoding process died while a request was on its way or in progress.

    `pid` names the process (None if it never started), so that callers who hear of one death
    from several requests can count it once.
    """

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class WorkerCannotStart(WorkerUnavailable):
    """A decoding process could not start, or died before answering anything: worker
    processes probably cannot run here at all."""


def _frame(obj: object) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write(stream: IO[bytes], obj: object) -> None:
    stream.write(_frame(obj))
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other end closed the pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end closed the pipe mid-message")
    return pickle.loads(data)


def _settle(future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Resolve `future` unless its waiter already gave up on it (cancelled)."""
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


class _Worker:
    """One helper process with its writer and reader threads."""

    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "realtimelab.emulator.decoding"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as exc:
            raise WorkerCannotStart(f"could not start a decoding process: {exc}") from exc
        self.load = 0
        """Channels and requests currently assigned here (kept by `DecoderProcesses`)."""
        self._lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._dead: tuple[type[WorkerUnavailable], str] | None = None  # how and why it died
        self._answered = False
        for target in (self._write_loop, self._read_loop):
            threading.Thread(target=target, name="realtimelab-decoding-io", daemon=True).start()

    # -- requests -----------------------------------------------------------------------------
    def submit(self, name: str, *args: Any) -> Future[Any]:
        """Queue a request; the future gets its answer (RuntimeError when it failed there,
        WorkerUnavailable when the process died first)."""
        future: Future[Any] = Future()
        with self._lock:
            if self._dead is not None:
                _settle(future, error=self._death())
                return future
            request_id = next(self._ids)
            self._pending[request_id] = future
        self._outbox.put(_frame((request_id, name, args)))
        return future

    def send(self, name: str, *args: Any) -> None:
        """Queue a request that gets no answer (raises WorkerUnavailable if the process died)."""
        if self._dead is not None:
            raise self._death()
        self._outbox.put(_frame((None, name, args)))

    def call(self, name: str, *args: Any) -> Any:
        """`submit` and wait for the answer."""
        return self.submit(name, *args).result()

    def _death(self) -> WorkerUnavailable:
        assert self._dead is not None
        kind, reason = self._dead
        return kind(reason, self.proc.pid)

    def alive(self) -> bool:
        return self._dead is None and self.proc.poll() is None

    # -- the two I/O threads ------------------------------------------------------------------
    def _write_loop(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while True:
            data = self._outbox.get()
            if data is None:
                with contextlib.suppress(OSError):
                    stdin.close()  # the worker's read sees EOF and it exits
                return
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError) as exc:
                self._die(f"a decoding process died: {exc}")
                return

    def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            try:
                request_id, ok, value = _read(stdout)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
                self._die(f"a decoding process died: {exc}")
                return
            self._answered = True
            with self._lock:
                future = self._pending.pop(request_id, None)
            if future is None:
                continue
            if ok:
                _settle(future, value)
            else:
                _settle(future, error=RuntimeError(f"decoding failed in the worker: {value}"))

    def _die(self, reason: str) -> None:
        with self._lock:
            if self._dead is None:
                self._dead = (WorkerUnavailable if self._answered else WorkerCannotStart, reason)
            pending, self._pending = self._pending, {}
        for future in pending.values():
            _settle(future, error=self._death())
        if self.proc.poll() is None:
            self.proc.kill()
        self._outbox.put(None)  # lets the writer thread end

    # -- shutting down ------------------------------------------------------------------------
    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        self._outbox.put(None)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


class Channel:
    """Requests that must reach one worker in order: one streamed utterance.

    Obtained from `DecoderProcesses.channel`; `close` it when the utterance is over so the
    worker counts as free again.
    """

    def __init__(self, pool: DecoderProcesses, worker: _Worker) -> None:
        self._pool = pool
        self._worker: _Worker | None = worker

    def send(self, name: str, *args: Any) -> None:
        """Fire-and-forget request (raises WorkerUnavailable if the worker died)."""
        if self._worker is None:
            raise RuntimeError("this channel is closed")
        self._worker.send(name, *args)

    def submit(self, name: str, *args: Any) -> Future[Any]:
        """Request with an answer, in order after everything sent before."""
        if self._worker is None:
            raise RuntimeError("this channel is closed")
        return self._worker.submit(name, *args)

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._pool._release(worker)


class DecoderProcesses:
    """Up to `size` worker processes, started on demand; each serves its requests in order.

    New work goes to the worker with the least assigned to it, and a new worker is started
    while every existing one is busy and there are fewer than `size`.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def call(self, name: str, *args: Any) -> Any:
        """Run `op` `name` in a worker and wait for its answer (blocking: call it from a thread,
        it releases the GIL while it waits)."""
        return self.submit(name, *args).result()

    def submit(self, name: str, *args: Any) -> Future[Any]:
        """Run `op` `name` in a worker; the future gets the answer (await it with
        `asyncio.wrap_future`)."""
        worker = self._take()
        future = worker.submit(name, *args)
        future.add_done_callback(lambda _: self._release(worker))
        return future

    def channel(self) -> Channel:
        """Reserve a worker for a sequence of ordered requests (one streamed utterance)."""
        return Channel(self, self._take())

    def start(self) -> None:
        """Start every worker now and wait until each has answered (~0.5 s: imports)."""
        with self._lock:
            while len(self._all) < self.size:
                self._all.append(_Worker())
            workers = list(self._all)
        pings = [w.submit("ping") for w in workers]
        failure: BaseException | None = None
        for worker, ping in zip(workers, pings, strict=True):
            try:
                ping.result()
            except WorkerUnavailable as exc:
                self._discard(worker)
                failure = failure or exc
        if failure is not None:
            raise failure

    def _take(self) -> _Worker:
        with self._lock:
            # a worker found dead is replaced: only requests already sent to it fail
            for dead in [w for w in self._all if not w.alive()]:
                self._all.remove(dead)
            worker = min(self._all, key=lambda w: w.load, default=None)
            if worker is None or (worker.load > 0 and len(self._all) < self.size):
                worker = _Worker()
                self._all.append(worker)
            worker.load += 1
            return worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            worker.load -= 1
            if not worker.alive() and worker in self._all:
                self._all.remove(worker)  # replaced by a fresh one when next needed

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.kill()

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()


def _host() -> Any:
    from realtimelab.emulator.hearing_decoder import DecoderHost

    return DecoderHost()


def _operations(host: Any) -> dict[str, Callable[..., Any]]:
    return {
        "ping": os.getpid,
        "decode": host.decode,
        "open": host.open,
        "append": host.append,
        "finish": host.finish,
        "cancel": host.cancel,
    }


def _read_requests(stream: IO[bytes], inbox: queue.SimpleQueue[Any]) -> None:
    """The worker's reader thread: requests into `inbox`, then None when stdin closes."""
    try:
        while True:
            inbox.put(_read(stream))
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):
        inbox.put(None)


def main() -> None:
    """The worker loop: answer requests in order; between them, decode what was appended.

    Requests arrive through a reader thread, so the loop can tell "nothing is waiting" and use
    that time for `DecoderHost.work` (one block at a time) instead of decoding inside `append`:
    a `finish` then never waits behind another utterance's backlog.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(0.001)  # let the reader thread in quickly between decoder calls
    host = _host()
    operations = _operations(host)
    stdout = sys.stdout.buffer
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_read_requests, args=(sys.stdin.buffer, inbox), daemon=True).start()
    while True:
        try:
            request = inbox.get_nowait()
        except queue.Empty:
            if host.work():
                continue
            host.tidy()
            request = inbox.get()
        if request is None:
            return
        request_id, name, args = request
        try:
            answer: tuple[bool, Any] = (True, operations[name](*args))
        except Exception as exc:  # reported to the caller, which raises it there
            answer = (False, f"{type(exc).__name__}: {exc}")
        if request_id is not None:
            _write(stdout, (request_id, *answer))


if __name__ == "__main__":
    main()
