"""Speech decoding in helper processes, so one session's decode never stalls the others.

Why processes: pocketsphinx holds the GIL while it decodes (measured: a 155 ms decode froze
every other thread for 115 ms), so decoding on a thread stalls the paced audio of every other
session in the emulator (measured: 1 real-time session before, 16 after).

Why not `multiprocessing`: its spawn/forkserver start methods re-import the parent's main
script in every worker, so a user's unguarded script (`asyncio.run(main())` at top level, as in
most examples) would run again inside each worker; and fork is unsafe in a threaded process such
as a Jupyter kernel. These workers are plain `python -m realtimelab.emulator.decoding`
subprocesses that import only this module and talk over their stdin/stdout: a request is a
length-prefixed pickle of the call's arguments, the answer a length-prefixed pickle of its
result. Both ends are this module, in processes we started, so pickle is safe here.

A worker ignores Ctrl-C (the parent shuts it down) and exits when its stdin closes, so it never
outlives the emulator.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

_HEADER = struct.Struct(">I")


class WorkerUnavailable(RuntimeError):
    """A decoding process could not start, or died during a request."""


def _write(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
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


class _Worker:
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
            raise WorkerUnavailable(f"could not start a decoding process: {exc}") from exc

    def call(self, name: str, *args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _write(self.proc.stdin, (name, args))
            ok, value = _read(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.kill()
            raise WorkerUnavailable(f"a decoding process died: {exc}") from exc
        if not ok:
            raise RuntimeError(f"decoding failed in the worker: {value}")
        return value

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the worker's read sees EOF and it exits
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


class DecoderProcesses:
    """Up to `size` worker processes, started on demand; each runs one request at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def call(self, name: str, *args: Any) -> Any:
        """Run `realtimelab.emulator.decoding.FUNCTIONS[name](*args)` in a worker (blocking:
        call it from a thread, it releases the GIL while it waits)."""
        worker = self._take()
        try:
            return worker.call(name, *args)
        except WorkerUnavailable:
            with self._lock:
                self._all.remove(worker)
            raise
        finally:
            if worker.alive():
                self._idle.put(worker)  # a failed request leaves the worker usable

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._all) < self.size:
                worker = _Worker()
                self._all.append(worker)
                return worker
        return self._idle.get()  # all busy: wait for one

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()


def _functions() -> dict[str, Callable[..., Any]]:
    from realtimelab.emulator import hearing

    return {"decode": hearing.decode_utterance, "ping": lambda: os.getpid()}


def main() -> None:
    """The worker loop: read a request, run it, answer, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    functions = _functions()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            name, args = _read(stdin)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, functions[name](*args))
        except Exception as exc:  # reported to the caller, which raises it there
            answer = (False, f"{type(exc).__name__}: {exc}")
        _write(stdout, answer)


if __name__ == "__main__":
    main()
