"""The decoding helper processes: same answers as in-process, streaming over one worker, failures
that keep the worker, deaths that are reported rather than hung, and a user's unguarded script
never re-run inside them (the reason they are not `multiprocessing` workers)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtimelab.emulator import hearing
from realtimelab.emulator.brain import Brain
from realtimelab.emulator.decoding import DecoderProcesses, WorkerUnavailable
from realtimelab.emulator.voice import Voice

EMULATOR = Path(hearing.__file__).parent


@pytest.fixture(scope="module")
def ears() -> hearing.Hearing:
    return hearing.Hearing.for_session([], Brain())


@pytest.fixture(scope="module")
def prepared() -> bytes:
    pcm = Voice().synthesize("hello there", rate=16000)
    return hearing._prepare(np.frombuffer(pcm, dtype="<i2"), 16000)


@pytest.fixture
def pool() -> Iterator[DecoderProcesses]:
    processes = DecoderProcesses(1)
    yield processes
    processes.close()


def test_worker_decodes_exactly_like_in_process(
    ears: hearing.Hearing, prepared: bytes, pool: DecoderProcesses
) -> None:
    remote = pool.call("decode", "k", ears._dict_path, ears.grammar, prepared)
    assert remote == hearing.decode_utterance(ears._dict_path, ears.grammar, prepared)
    assert remote == ("hello there", None)
    with pytest.raises(RuntimeError, match="KeyError"):
        pool.call("no_such_function")
    assert pool.call("ping") > 0  # the worker survived the failed request


def test_utterances_stream_over_one_channel_in_any_pieces(
    ears: hearing.Hearing, prepared: bytes, pool: DecoderProcesses
) -> None:
    whole = pool.call("decode", "k", ears._dict_path, ears.grammar, prepared)
    channels = [pool.channel() for _ in range(3)]  # overlapping utterances on the one worker
    for uid, channel in enumerate(channels):
        channel.send("open", uid, "k", ears._dict_path, ears.grammar)
    cuts = {0: [0, 1, 2, 333, 4000, 4001, 20000], 1: [0, 17, 9000], 2: [0, 5]}
    for uid, points in cuts.items():
        points.append(len(prepared))
        for start, end in itertools.pairwise(points):
            channels[uid].send("append", uid, prepared[start:end])
    channels[2].send("cancel", 2)  # fire-and-forget requests get no answer and confuse nothing
    assert channels[0].submit("finish", 0).result(timeout=30) == whole
    assert channels[1].submit("finish", 1).result(timeout=30) == whole
    with pytest.raises(RuntimeError, match="no open utterance 2"):
        channels[2].submit("finish", 2).result(timeout=30)
    for channel in channels:
        channel.close()
    assert pool.call("ping") > 0


def test_a_worker_that_died_idle_is_replaced(pool: DecoderProcesses) -> None:
    first = pool.call("ping")
    (worker,) = pool._all
    worker.proc.kill()
    worker.proc.wait()
    assert pool.call("ping") not in (first, None)  # a fresh worker, no hang, no error


def test_requests_in_flight_to_a_dying_worker_are_reported_not_hung(
    pool: DecoderProcesses,
) -> None:
    channel = pool.channel()
    channel.send("open", 1, "k", "/nonexistent.dict", "#JSGF V1.0;")
    (worker,) = pool._all
    worker.proc.kill()
    answer = channel.submit("finish", 1)
    with pytest.raises(WorkerUnavailable):
        answer.result(timeout=30)
    with pytest.raises(WorkerUnavailable):
        channel.send("append", 1, b"\0\0")  # once the death is known, sending raises at once
    channel.close()
    assert pool.call("ping") > 0


def test_work_spreads_over_the_workers() -> None:
    processes = DecoderProcesses(2)
    try:
        a, b = processes.channel(), processes.channel()
        assert a.submit("ping").result(timeout=30) != b.submit("ping").result(timeout=30)
        a.close()
        b.close()
        assert [w.load for w in processes._all] == [0, 0]
    finally:
        processes.close()


def test_hearing_and_decoding_do_not_import_each_other() -> None:
    def imports(module: str) -> set[str]:
        tree = ast.parse((EMULATOR / f"{module}.py").read_text())
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return {n.rsplit(".", 1)[-1] for n in names if n.startswith("realtimelab.emulator")}

    assert "hearing" not in imports("decoding")
    assert not {"hearing", "decoding"} & imports("hearing_decoder")
    out = subprocess.run(
        [sys.executable, "-c", "import sys, realtimelab.emulator.decoding as d; d._host();"
         "print(sorted(m for m in sys.modules if m.startswith('realtimelab.emulator')))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "realtimelab.emulator.hearing'" not in out.stdout  # what a worker process loads


def test_an_unguarded_user_script_runs_once(tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    script = tmp_path / "user_script.py"
    script.write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from realtimelab.emulator import hearing
        with open({str(marker)!r}, "a") as f:
            f.write("run\\n")
        hearing.warm_workers()          # no `if __name__ == "__main__"` guard on purpose
        print("workers", len(hearing._processes()._all))
    """)
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "workers 2" in out.stdout
    assert marker.read_text() == "run\n"
