"""`python -m realtimelab talk` against the emulator (in-process `main()`, emulator on a thread)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtimelab.audio import read_wav, write_wav
from realtimelab.emulator.server import EmulatorConfig, EmulatorThread
from realtimelab.emulator.voice import Voice
from realtimelab.talk import main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with EmulatorThread(EmulatorConfig(speed=20)) as emu:
        yield emu.url


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_text_turns_with_tools(provider: str, emulator_url: str, tmp_path: Path) -> None:
    out = io.StringIO()
    reply = tmp_path / "reply.wav"
    args = ["--provider", provider, "--url", emulator_url, "--tools", "--save", str(reply)]
    code = main([*args, "--text", "Hello!", "--text", "What is the weather in Paris?"], out=out)
    text = out.getvalue()
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith(f"connected: {provider} ")
    assert "you:   Hello!" in lines
    assert any(re.fullmatch(r'tool:  get_weather\(\{"city": ?"Paris"\}\)', line) for line in lines)
    turns = [line for line in lines if line.startswith("turn:  completed")]
    assert len(turns) == 2
    assert all(re.search(r"first audio \d+ ms after input end", t) for t in turns)
    assert sum(line.startswith("model: ") for line in lines) == 2
    pcm, fmt = read_wav(reply)
    assert fmt.rate == 24000 and len(pcm) > 24000  # more than 0.5 s of reply audio


def test_wav_input_is_heard(emulator_url: str, tmp_path: Path) -> None:
    question = tmp_path / "q.wav"
    write_wav(question, Voice().synthesize("Hello there.", rate=22050), 22050)
    out = io.StringIO()
    code = main(["--provider", "openai", "--url", emulator_url, "--input", str(question)], out=out)
    assert code == 0, out.getvalue()
    lines = out.getvalue().splitlines()
    assert any(line.startswith("you:   ") for line in lines)  # the server's transcript
    assert any(line.startswith("turn:  completed, first audio") for line in lines)


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--provider", "gemini"]) == 2
    assert "--text" in capsys.readouterr().err
    assert main(["--input", str(tmp_path / "missing.wav")]) == 2
    assert "no such file" in capsys.readouterr().err
    refused = main(["--url", "ws://127.0.0.1:9", "--text", "hi"])
    assert refused == 1 and "could not connect" in capsys.readouterr().err


def test_cli_entry_point(emulator_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "realtimelab",
            "talk",
            "--provider",
            "gemini",
            "--url",
            emulator_url,
            "--text",
            "Hello!",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "turn:  completed" in result.stdout
