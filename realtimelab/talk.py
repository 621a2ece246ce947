"""`python -m realtimelab talk`: talk to a provider (the emulator by default) from a terminal.

    python -m realtimelab talk --provider gemini --text "Hello!" --text "What time is it?"
    python -m realtimelab talk --provider openai --input question.wav --save reply.wav
    python -m realtimelab talk --provider openai --mic          # needs a sound card

It prints what the user said, what the model said, tool calls, and per turn the latency from
the end of the user's input (server VAD's speech end where the provider reports it, else when
the last input was sent) to the first audio byte: the number that makes a voice app feel fast
or slow. Without a key in the environment it talks to an in-process emulator, so it works
offline. `--tools` declares a demo `get_weather` tool and answers its calls locally.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.providers.registry import names
from realtimelab.schema import Tool
from realtimelab.session import RealtimeSession, connect

__all__ = ["main"]


def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: the city name
    """
    return {"city": city, "forecast": "sunny", "temp_c": 21}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m realtimelab talk", description=__doc__.split("\n")[0]
    )
    p.add_argument("--provider", choices=names(), default=names()[0])
    p.add_argument("--text", action="append", default=[], help="a typed turn (repeatable)")
    p.add_argument("--input", type=Path, help="a WAV file to speak (any rate; resampled)")
    p.add_argument("--mic", action="store_true", help="speak through the microphone")
    p.add_argument("--play", action="store_true", help="play replies on the speaker")
    p.add_argument("--save", type=Path, help="write the model's audio to this WAV file")
    p.add_argument("--voice", help="a neutral voice name or a provider voice")
    p.add_argument("--instructions", default="You are a helpful assistant. Be brief.")
    p.add_argument("--url", help="base URL, e.g. ws://127.0.0.1:8765 (default: emulator)")
    p.add_argument("--model")
    p.add_argument("--tools", action="store_true", help="declare a demo get_weather tool")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a reply")
    return p


class _Turns:
    """Prints the conversation and per-turn latency as events arrive."""

    def __init__(self, session: RealtimeSession, out: TextIO) -> None:
        self.session = session
        self.out = out
        self.input_end: float | None = None
        self.first_audio: float | None = None
        self.audio = bytearray()
        self.audio_rate = session.capabilities.output_rate
        self.player: Any = None

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def handle(self, event: ev.Event) -> bool:
        """Print `event`; True when the model finished answering."""
        if isinstance(event, ev.SpeechStopped):
            self.input_end = event.t
        elif isinstance(event, ev.InputTranscript) and event.final and event.text:
            self.say(f"you:   {event.text}")
        elif isinstance(event, ev.AudioChunk):
            if self.first_audio is None:
                self.first_audio = event.t
            self.audio += event.pcm
            self.audio_rate = event.rate
        elif isinstance(event, ev.OutputTranscript | ev.TextDelta) and _is_final_text(event):
            self.say(f"model: {event.text}")
        elif isinstance(event, ev.ToolCall):
            self.say(f"tool:  {event.name}({event.arguments_json})")
            result: Any = (
                get_weather(**event.arguments)
                if event.name == "get_weather" and event.arguments
                else {"error": f"unknown tool {event.name!r} or bad arguments"}
            )
            await self.session.send_tool_response(event.call_id, result, name=event.name)
        elif isinstance(event, ev.Interrupted):
            # the session already stopped the player (it is attached to it) and, where the
            # provider needs it, told the server how much was heard
            heard = f" after {event.heard_ms:.0f} ms" if event.heard_ms is not None else ""
            self.say(f"       (interrupted{heard})")
        elif isinstance(event, ev.Error):
            self.say(f"error: {event.message}" + (f" [{event.code}]" if event.code else ""))
        elif isinstance(event, ev.TurnComplete):
            self.say(self._summary(event))
            self.input_end = self.first_audio = None
            return True
        elif isinstance(event, ev.Closed):
            return True
        return False

    def _summary(self, done: ev.TurnComplete) -> str:
        parts = [f"turn:  {done.status}"]
        if self.input_end is not None and self.first_audio is not None:
            parts.append(
                f"first audio {1000 * (self.first_audio - self.input_end):.0f} ms after input end"
            )
        if done.usage is not None:
            parts.append(f"tokens in {done.usage.input_tokens} / out {done.usage.output_tokens}")
        return ", ".join(parts)


def _is_final_text(event: ev.OutputTranscript | ev.TextDelta) -> bool:
    return isinstance(event, ev.OutputTranscript) and event.final


async def _until_answered(turns: _Turns, session: RealtimeSession, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        async for event in session:
            if await turns.handle(event):
                return


async def _until_heard(session: RealtimeSession, turns: _Turns, timeout: float) -> None:
    """With a player, let the answer finish playing before the next typed turn: the reply
    arrived faster than real time, and a new question would otherwise talk over it."""
    if turns.player is None:
        return
    left = session.playout.ends_at(session.now()) - session.now()
    await asyncio.sleep(min(max(0.0, left), timeout))


async def _speak_wav(session: RealtimeSession, path: Path, turns: _Turns) -> None:
    from realtimelab.audio import read_wav

    pcm, fmt = read_wav(path)
    step = fmt.nbytes(20)
    for i in range(0, len(pcm), step):
        await session.send_audio(pcm[i : i + step], fmt.rate)
    turns.input_end = session.now()  # SpeechStopped, where reported, refines this
    silence = b"\x00" * step
    for _ in range(50):  # 1 s of silence lets server VAD end the turn
        await session.send_audio(silence, fmt.rate)


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    config = SessionConfig(
        instructions=args.instructions,
        voice=args.voice,
        input_transcription=True,
        tools=(Tool.from_callable(get_weather),) if args.tools else (),
        model=args.model,
    )
    async with connect(args.provider, config, url=args.url) as session:
        turns = _Turns(session, out)
        where = "emulator" if "127.0.0.1" in session.url else session.url.split("/")[2]
        turns.say(f"connected: {session.provider} {session.model} via {where}")
        if args.play or args.mic:
            from realtimelab.devices import open_player

            turns.player = open_player(session.capabilities.output_rate)
            # the session plays each chunk as it arrives and stops the player when the user
            # talks over it (whatever the server's state: replies arrive faster than real time)
            session.attach_player(turns.player)
        try:
            for text in args.text:
                turns.say(f"you:   {text}")
                await session.send_text(text)
                turns.input_end = session.now()
                await _until_answered(turns, session, args.timeout)
                await _until_heard(session, turns, args.timeout)
            if args.input is not None:
                await _speak_wav(session, args.input, turns)
                await _until_answered(turns, session, args.timeout)
            if args.mic:
                from realtimelab.devices import DeviceUnavailable

                try:
                    await _talk_live(session, turns)
                except DeviceUnavailable as e:
                    print(f"talk: {e}", file=sys.stderr)
                    return 1
        finally:
            if turns.player is not None:
                turns.player.close()
    if args.save is not None and turns.audio:
        from realtimelab.audio import write_wav

        write_wav(args.save, bytes(turns.audio), turns.audio_rate)
        turns.say(f"saved: {args.save} ({len(turns.audio) / 2 / turns.audio_rate:.1f} s)")
    return 0


async def _talk_live(session: RealtimeSession, turns: _Turns) -> None:
    """Microphone in, speaker out, until Ctrl-C."""
    from realtimelab.devices import Microphone

    turns.say("speak (Ctrl-C to stop)")

    rate = session.capabilities.input_rate
    async with Microphone(rate=rate) as mic:  # raises DeviceUnavailable here, not later

        async def pump() -> None:
            async for frame in mic:
                await session.send_audio(frame, rate)

        task = asyncio.create_task(pump())
        try:
            async for event in session:
                await turns.handle(event)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    stream = out or sys.stdout
    if not (args.text or args.input or args.mic):
        print("nothing to say: give --text, --input FILE.wav or --mic", file=sys.stderr)
        return 2
    if args.input is not None and not args.input.is_file():
        print(f"no such file: {args.input}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, stream))
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, TimeoutError, OSError, ValueError) as e:
        reason = str(e) or type(e).__name__
        print(f"talk: {reason}", file=sys.stderr)
        return 1
