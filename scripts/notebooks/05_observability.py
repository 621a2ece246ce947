# %% [markdown]
# # 05 · Observability: event logs, latency metrics, the waterfall
#
# "Why was that reply slow?", "did the tool result go back?", "what did the server actually
# send?" — questions about a realtime voice session are answered by a **timeline**: the wire
# frames, next to the unified events they became, with timestamps. `realtimelab.observe.EventLog`
# writes that timeline as JSON Lines while the session runs:
#
# | line `dir` | written by | what it is |
# |---|---|---|
# | `out` / `in` | `frame_tap=log.frame` | a wire frame we sent / received (audio replaced by its size) |
# | `event` | `log.event(ev)` | a unified event your code iterated over |
# | `note` | `log.note(...)`, `log.mark(...)`, `log.note_rate_guard(...)` | findings and your own marks |
#
# Two rules make a log safe to share: **audio payloads are never stored** (only `audio_bytes` /
# `audio_ms`), and **secrets are removed before a line is written** (`realtimelab.redact`).

# %%
# %matplotlib inline
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from IPython.display import display

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.audio import SampleRateError
from realtimelab.metrics import format_summary, format_table, summarize, turn_metrics, waterfall
from realtimelab.observe import EventLog
from realtimelab.replay import read_log

lab.banner()
RUNS = Path(tempfile.gettempdir()) / "realtimelab-notebooks"
LOG = RUNS / "05_session.jsonl"
print("logs go to", RUNS)

# %% [markdown]
# ## Record a session on each provider
#
# Three things happen per provider: a typed turn, a spoken turn that makes the model call a tool,
# and the tool's result going back. Like a person, the client lets each answer finish playing
# before it speaks again, and streams its speech at the pace of a microphone (sped up together
# with the emulator in headless runs). Everything goes into **one** log file (each line names
# its provider).
#
# To prove the redaction, we plant **fake keys** where real ones end up in practice: pasted into
# the instructions (which the server echoes back in `session.updated`), and in a request header
# we log with `log.mark`. Against the emulator the fake key is also the session's real
# credential. The keys are random and never printed; `secrets=` gives the log the exact strings
# to remove, on top of the pattern-based redaction that catches `sk-…` and `AIza…` shapes anyway.

# %%
FAKE_KEYS = {
    "openai": "sk-proj-" + secrets.token_urlsafe(24),  # random, never printed
    "gemini": "AIza" + secrets.token_urlsafe(27),
}


def get_weather(city: str) -> dict:
    "Get the current weather in a city."
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


speech16k = lab.utterance("What is the weather in Paris?", 16000)
lab.warm_up_emulator()


async def answer(session, log, timeout=30):
    # Log every event until the model's answer is complete, running tool calls on the way.
    # Returns when (on the session's clock) the answer's audio would finish playing.
    first_audio, audio_s = None, 0.0
    try:
        async with asyncio.timeout(timeout):
            async for event in session:
                log.event(event)
                if isinstance(event, ev.AudioChunk):
                    first_audio = first_audio or event.t
                    audio_s += event.duration_ms / 1000
                elif isinstance(event, ev.ToolCall):
                    await session.send_tool_response(event.call_id, get_weather(**event.arguments))
                elif isinstance(event, ev.TurnComplete) and event.reason != "tool_calls":
                    break
    except TimeoutError:
        print(f"{session.provider}: no complete answer within {timeout} s")
    return (first_audio or session.now()) + audio_s


log = EventLog(LOG, secrets=FAKE_KEYS.values())
for provider in lab.PROVIDERS:
    key = FAKE_KEYS[provider]
    config = SessionConfig(
        instructions=f"Be brief. (debug note: my key is {key})",
        input_transcription=True,
        tools=[get_weather],
    )
    kwargs = lab.connect_kwargs(provider)
    if kwargs:  # the emulator accepts any key; a real service gets yours
        kwargs["api_key"] = key
    async with connect(provider, config, frame_tap=log.frame, **kwargs) as session:
        log.attach(session)  # the session's trace points: where each user turn ended
        log.mark("request", url=session.url, headers={"Authorization": f"Bearer {key}"})
        await session.send_text("Hello there!")
        played = await answer(session, log)
        await asyncio.sleep(max(0.0, played - session.now()))  # listen to the end, then speak
        # speak while listening: the answer (and its tool call) can come before the mic stops
        speaking = asyncio.create_task(lab.send_speech(session, speech16k, 16000, realtime=True))
        await answer(session, log)
        await speaking
        log.note_rate_guard(session.rate_guard)  # sample-rate findings become note lines
log.close()

lines = read_log(LOG)
for provider in lab.PROVIDERS:
    kinds = sorted({x["dir"] for x in lines if x["provider"] == provider})
    print(f"{LOG.name}, {provider} lines: {', '.join(kinds)}")
    lab.check(
        set(kinds) == {"out", "in", "event", "trace", "note"},
        f"{provider}: frames both ways, events, the session's trace points and notes",
    )
audio_lines = [x for x in lines if x.get("audio_bytes")]
payload = re.compile(r"[A-Za-z0-9+/=]{200,}")  # what a base64 audio payload looks like
lab.check(
    audio_lines and not any(payload.search(json.dumps(x)) for x in audio_lines),
    "no audio payload is stored: audio lines keep only audio_bytes and audio_ms",
)

# %% [markdown]
# ## Is any key in the file?
#
# Search the file for the exact key strings (done in Python so the keys never appear in this
# notebook), then show where redaction struck:

# %%
text = LOG.read_text()
for provider, key in FAKE_KEYS.items():
    hits = subprocess.run(["grep", "-c", "-F", key, str(LOG)], capture_output=True, text=True)
    print(f"{provider} key: grep -c → {hits.stdout.strip()}   (in the text: {key in text})")
    lab.check(key not in text, f"{provider}: the planted key appears nowhere in the log")
struck = set()  # (provider, dir, type, context): where redaction struck, each place once
for line in lines:
    raw = json.dumps(line, ensure_ascii=False)
    if "[REDACTED]" in raw:
        at = raw.index("[REDACTED]")
        struck.add((line["provider"], line["dir"], line["type"], raw[at - 45 : at + 12]))
print("'[REDACTED]' stands in these places:")
for provider, direction, kind, context in sorted(struck):
    print(f"  {provider:7} {direction:5} {kind:16} …{context}…")
for provider in lab.PROVIDERS:
    places = {(d, k) for p, d, k, _ in struck if p == provider}
    lab.check(
        ("note", "request") in places and any(d == "out" for d, _ in places),
        f"{provider}: struck where the key was planted (the instructions sent, the header noted)",
    )

# %% [markdown]
# ## What the lines look like
#
# A sent text message, one audio frame (the audio is gone, its size and duration are kept), the
# unified event of a tool call, and a note:


# %%
def first(pred):
    return next(x for x in lines if pred(x))


examples = [
    first(lambda x: x["dir"] == "out" and x["type"] == "conversation.item.create"),
    first(lambda x: x["dir"] == "in" and x.get("audio_bytes")),
    first(lambda x: x["dir"] == "event" and x["type"] == "ToolCall"),
    first(lambda x: x["dir"] == "note" and x["type"] == "rate_guard"),
]
for line in examples:
    print(json.dumps(line, ensure_ascii=False), "\n")

# %% [markdown]
# ## Per-turn metrics: TTFB and TTLB
#
# `turn_metrics(lines)` cuts the log into turns (one user input and the model's whole reply,
# across a tool round trip) and measures, in milliseconds:
#
# | metric | from | to |
# |---|---|---|
# | **TTFB** (time to first byte) | end of the user's turn | first model audio |
# | **TTLB** (time to last byte) | end of the user's turn | last model audio |
# | **tool gap** | last audio before a tool call (or the call) | first audio after it |
# | **perceived** | where the user's speech really ended (the client's own VAD) | first *audible* audio |
#
# "End of the user's turn" is the moment we sent a typed message, or the server's
# `SpeechStopped` for speech. **Gemini sends no `SpeechStopped`**, so for its spoken turn the
# anchor comes from the session itself: `log.attach(session)` wrote the client VAD's
# `speech_end` trace line, back-dated to where the speech stopped (`speech_end_source` says
# which anchor a turn used). The same detector on both providers gives the **perceived**
# column, the one to compare providers by (notebook 07 takes it apart).
#
# The milliseconds change from run to run; the table is followed by what does not.

# %% tags=["nbval-ignore-output"]
turns = turn_metrics(lines)
print(format_table(turns))
print()
print(format_summary(summarize(turns)))

# %%
shape = [(m.provider, m.user_input, m.speech_end_source, m.tool_calls) for m in turns]
for row in shape:
    print("turn: provider={} input={} anchor={} tool_calls={}".format(*row))
lab.check(
    shape
    == [
        ("openai", "text", "text", 0),
        ("openai", "speech", "server", 1),
        ("gemini", "text", "text", 0),
        ("gemini", "speech", "client", 1),
    ],
    "four turns; OpenAI's spoken turn ends at its SpeechStopped, Gemini's at the client's VAD",
)
for m in turns:
    if m.user_input == "speech":
        lab.check(
            m.perceived_ms is not None and m.tool_gap_ms is not None,
            f"{m.provider}: the spoken turn has a perceived latency and a tool gap",
            f"perceived {m.perceived_ms:.0f} ms, tool gap {m.tool_gap_ms:.0f} ms",
        )
    else:
        lab.check(
            m.ttlb_ms - m.ttfb_ms < m.audio_out_ms,
            f"{m.provider}: the last byte of the typed turn's answer arrived before it was heard",
            f"{m.ttlb_ms - m.ttfb_ms:.0f} ms on the wire for {m.audio_out_ms:.0f} ms of audio",
        )

# %% [markdown]
# ## The waterfall
#
# One row per turn: the user's speech (blue bar, `SpeechStarted` → `SpeechStopped`) or the moment
# a typed message was sent (▸), the TTFB gap (hatched), the model's audio as a player that starts
# each chunk on arrival would play it (green), tool calls (▼). Holes in the green bar are
# silences a listener hears. Gemini's spoken turn has no speech bar (no `SpeechStarted` from the
# server), only the client VAD's end-of-speech mark (▸).
#
# The x axis is wall-clock time since the log started; audio is drawn at its real duration, so in
# a sped-up headless run the answers look longer than the pauses around them.

# %%
fig = waterfall(turns)
display(fig)

# %% [markdown]
# ## The same from the command line
#
# `python -m realtimelab replay LOG.jsonl` prints this table from any log — handy for a log a
# colleague sent you (add `--plot out.png` for the waterfall, `--json` for machine-readable
# numbers).

# %% tags=["nbval-ignore-output"]
replay = subprocess.run(
    [sys.executable, "-m", "realtimelab", "replay", str(LOG)],
    capture_output=True,
    text=True,
    check=True,
)
print(replay.stdout)
lab.check(
    replay.stdout.startswith(format_table(turns)), "replay prints the same table from the file"
)

# %% [markdown]
# ## The sample-rate guard, in the log
#
# Audio carries no rate of its own, so a wrong rate is silent on the wire: the server just hears
# chipmunks (notebook 00). `send_audio(pcm, rate)` makes the rate explicit and the session's
# `RateGuard` checks it against the provider's input rate:
#
# - default (`resample=True`): a mismatch is **resampled** and recorded — the OpenAI session above
#   already logged it, because we fed 16 kHz speech to a 24 kHz API;
# - `connect(..., resample=False)`: a mismatch is **refused** with `SampleRateError`, naming both
#   rates, and nothing is sent. The fix is to keep the default, or to resample yourself
#   (`realtimelab.audio.resample(pcm, 16000, 24000)`) and declare the rate you send.
#
# Both cases, on OpenAI, logged to a second file:

# %%
GUARD_LOG = RUNS / "05_rate_guard.jsonl"
guard_log = EventLog(GUARD_LOG)
for resample in (False, True):
    async with connect(
        "openai",
        SessionConfig(),
        resample=resample,
        frame_tap=guard_log.frame,
        **lab.connect_kwargs("openai"),
    ) as session:
        if resample:
            await session.send_audio(speech16k[:6400], 16000)  # 200 ms recorded at 16 kHz
            print(f"resample={resample}: sent, resampled to {session.capabilities.input_rate} Hz")
        else:
            with lab.expect_error(SampleRateError):
                await session.send_audio(speech16k[:6400], 16000)
        guard_log.note_rate_guard(session.rate_guard)
guard_log.close()

print("\nnote lines in", GUARD_LOG.name)
for line in read_log(GUARD_LOG):
    if line["dir"] == "note":
        print(f"  at {line['t_ms']:.1f} ms: {line['summary']}")
print("\nand in", LOG.name)
for line in lines:
    if line["dir"] == "note" and line["type"] == "rate_guard":
        print(f"  {line['provider']}: {line['summary']}")

# %% [markdown]
# ## Takeaways
#
# - Log **frames and events together**: the frame says what the server did, the event what your
#   code saw. `frame_tap=log.frame` plus `log.event(ev)` (or `async for ev in log.tap(session)`).
# - Logs are **redacted before writing** and carry **no audio** — pass your key in `secrets=` to be
#   sure; add `record_audio_dir=` when you do want WAV files per turn.
# - **TTFB/TTLB** are defined once for both providers; where a provider does not report the end
#   of speech, the client's own VAD supplies it (and the log says which anchor each turn used).
# - The emulator's milliseconds describe the emulator, not a provider (notebook 06). Set a key
#   and rerun this notebook to log a real session — the same code, the same log format.
