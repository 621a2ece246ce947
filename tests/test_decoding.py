"""The decoding helper processes: same answers as in-process, and a user's unguarded script
is never re-run inside them (the reason they are not `multiprocessing` workers)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from realtimelab.emulator import hearing
from realtimelab.emulator.brain import Brain
from realtimelab.emulator.decoding import DecoderProcesses, WorkerUnavailable
from realtimelab.emulator.voice import Voice


def test_worker_decodes_exactly_like_in_process() -> None:
    h = hearing.Hearing.for_session([], Brain())
    pcm = Voice().synthesize("hello there", rate=16000)
    audio = hearing._prepare(hearing.np.frombuffer(pcm, dtype="<i2"), 16000)
    pool = DecoderProcesses(1)
    try:
        remote = pool.call("decode", h._dict_path, h.grammar, audio)
        assert remote == hearing.decode_utterance(h._dict_path, h.grammar, audio)
        assert remote is not None and remote[0] == "hello there"
        with pytest.raises(RuntimeError, match="KeyError"):
            pool.call("no_such_function")
        assert pool.call("ping") > 0  # the worker survived the failed request
    finally:
        pool.close()


def test_a_dead_worker_is_reported_not_hung() -> None:
    pool = DecoderProcesses(1)
    try:
        pool.call("ping")
        (worker,) = pool._all
        worker.proc.kill()
        with pytest.raises(WorkerUnavailable):
            pool.call("ping")
        assert pool.call("ping") > 0  # a fresh worker replaces it
    finally:
        pool.close()


def test_an_unguarded_user_script_runs_once(tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        from realtimelab.emulator import hearing
        with open({str(marker)!r}, "a") as f:
            f.write("run\\n")
        hearing.warm_workers()          # no `if __name__ == "__main__"` guard on purpose
        print("workers", len(hearing._processes()._all))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, check=True)
    assert "workers 2" in out.stdout
    assert marker.read_text() == "run\n"
