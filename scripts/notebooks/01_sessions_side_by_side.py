# %% [markdown]
# # 01 · Sessions side by side
#
# One `RealtimeSession`, two providers. We open **the same session** (one `SessionConfig`) on
# OpenAI Realtime and on Gemini Live, take **the same two turns** — one typed, one spoken — and
# put what travelled over the WebSocket (**wire frames**) next to what your code iterates over
# (**unified events**).
#
# The point of the exercise: the *meaning* is the same on both providers, the *wire* is not.
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | frame names | `"type": "response.output_audio.delta"` | a oneof of top-level keys: `serverContent.modelTurn` |
# | spelling | snake_case | camelCase (`turnComplete`, `mimeType`) |
# | server frames | text WebSocket frames | **binary** WebSocket frames holding UTF-8 JSON |
# | audio in / out | 24 kHz / 24 kHz PCM16 | 16 kHz / 24 kHz PCM16 |
# | "user started / stopped talking" | `input_audio_buffer.speech_started` / `_stopped` | not sent |
# | the server finished generating | `response.done` | `generationComplete` |
# | the listener has heard it all | — (the client knows) | `turnComplete` (after the assumed playback) |

# %%
# %matplotlib inline
import asyncio
import json
from dataclasses import dataclass, field, fields

import matplotlib.pyplot as plt
from IPython.display import HTML, display

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.observe import b64_decoded_len, frame_type
from realtimelab.providers import make_codec
from realtimelab.providers.base import Capabilities

lab.banner()

# %% [markdown]
# ## What the emulator understands
#
# The local emulator is not a language model: it is a small set of deterministic rules with a
# real speech recogniser and synthesiser around them, so every run gives the same answers. Ask
# it something outside its rules and it says so, plainly — here is what it understands:

# %%
print(lab.understands())

# %% [markdown]
# Try it: a typed question it has no rule for gets that same honest paragraph back, never a
# made-up answer (and never "Sorry, I didn't catch that", which is only for audio it could
# not make out). We read the start of the reply and hang up.

# %%
QUESTION = "Can you recommend a good book about Roman history?"  # edit me
async with connect("openai", SessionConfig(output="text"), **lab.connect_kwargs("openai")) as s:
    await s.send_text(QUESTION)
    reply = ""
    async with asyncio.timeout(10):
        async for e in s:
            if isinstance(e, ev.TextDelta):
                reply += e.text
            if len(reply) > 80 or isinstance(e, ev.TurnComplete):
                break
print(f"you: {QUESTION}\nopenai: {reply} …")
lab.check(
    reply.startswith("I'm the realtimelab emulator"),
    "outside its rules the emulator says what it is",
    emulator_only=True,
)

# %% [markdown]
# ## One configuration, two wire formats
#
# `SessionConfig` is provider-neutral: a neutral voice name (`"warm"`), a tool given as a plain
# Python function (its signature and docstring become the JSON Schema), transcription switches.
# Each provider's **codec** turns it into that provider's first frame. Codecs are *sans-IO* —
# no socket needed to see what they would send:


# %%
def get_weather(city: str) -> dict:
    "Get the current weather in a city."
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


config = SessionConfig(
    instructions="You are a friendly assistant. Be brief.",
    voice="warm",
    input_transcription=True,
    tools=[get_weather],
)
first = {p: make_codec(p).initial_frames(config)[0] for p in lab.PROVIDERS}
for provider, frame in first.items():
    print(f"--- {provider}: {frame_type(frame)}")
    print(json.dumps(frame, indent=1)[:700], "...\n")
lab.check(
    first["openai"]["session"]["audio"]["output"]["voice"] == "coral"
    and "speechConfig" in json.dumps(first["gemini"]),
    "one neutral voice name becomes each provider's own (coral; a Gemini speechConfig voice)",
)

# %% [markdown]
# ## Run the same conversation on both
#
# `connect(provider, config, frame_tap=...)` calls the tap with every frame, parsed, in both
# directions. Both sessions run **at the same time** (two tasks), each taking two turns:
#
# 1. typed: *"Hello there! What voice are you using?"*
# 2. spoken: *"What is the weather in Paris?"* (16 kHz speech; `send_audio` resamples it to the
#    provider's input rate), which makes the model call `get_weather`.
#
# Like a person, the client waits until the first answer has finished **playing** before it
# speaks again: `session.playout.ends_at(now)` says when that is. The speech itself goes out
# as fast as the socket takes it: a server's VAD counts positions in the audio stream, not
# wall-clock time. `TurnComplete` means the same on both providers: the model's answer is
# complete, across the tool round trip.

# ### Hear them live
#
# `lab.live_players()` puts a speaker per provider on this page. A session given
# `player=lab.speaker(provider)` sends each audio chunk there the moment it is decoded, and the
# page plays it (an AudioWorklet in your browser, not the kernel's sound card) and reports how
# much it has played: that report becomes the session's playout clock. Only the first speaker
# has its sound on, so the two answers do not talk over each other; tick *sound* on the other.
# Where no page plays (a script, nbval), sessions keep a wall-clock model of playback, and the
# static players at the end of the notebook are the fallback.

# %%
speakers = lab.live_players()

# %%
TEXT = "Hello there! What voice are you using?"
SPOKEN = "What is the weather in Paris?"  # edit me: the speech is synthesised from these words
speech16k = lab.utterance(SPOKEN, 16000)
lab.warm_up_emulator()


@dataclass
class Run:
    provider: str
    capabilities: Capabilities | None = None
    frames: list = field(default_factory=list)  # (turn, direction, frame, t)
    events: list = field(default_factory=list)  # (turn, event)
    turn: int = 0
    started: float = 0.0

    def of(self, turn, kind=ev.Event):
        return [e for n, e in self.events if n == turn and isinstance(e, kind)]


async def until_answered(session, run, timeout=20):
    "Record events until the answer is complete; answer tool calls on the way."
    async with asyncio.timeout(timeout):
        async for event in session:
            run.events.append((run.turn, event))
            if isinstance(event, ev.ToolCall):
                await session.send_tool_response(event.call_id, get_weather(**event.arguments))
            elif isinstance(event, ev.TurnComplete):
                return


async def converse(provider):
    run = Run(provider)

    def tap(direction, frame, t):  # called for every frame, both directions
        run.frames.append((run.turn, direction, frame, t))

    kwargs = lab.connect_kwargs(provider)
    player = lab.speaker(provider)  # None where no page shows the speakers
    async with connect(provider, config, frame_tap=tap, player=player, **kwargs) as session:
        run.capabilities, run.started, run.turn = session.capabilities, session.now(), 1
        await session.send_text(TEXT)
        await until_answered(session, run)
        await asyncio.sleep(max(0.0, session.playout.ends_at(session.now()) - session.now()))
        run.turn = 2
        await lab.send_speech(session, speech16k, 16000)
        await until_answered(session, run)
    return run


with lab.timed("both sessions, two turns each"):
    runs = dict(zip(lab.PROVIDERS, await asyncio.gather(*map(converse, lab.PROVIDERS))))

# %%
for provider, run in runs.items():
    for turn in (1, 2):
        said = [e.text for e in run.of(turn, ev.OutputTranscript) if e.final]
        print(f"{provider} turn {turn}: {' / '.join(said)}")
heard = [e.text for e in runs["gemini"].of(2, ev.InputTranscript) if e.final]
lab.check(
    heard[-1].lower().strip(" .?") == SPOKEN.lower().strip(" .?"),
    "the emulator heard the spoken question word for word",
    emulator_only=True,
)

# %% [markdown]
# ## Audio received is not audio heard
#
# Both services **generate audio faster than real time** and send it as they go. So the whole
# answer can be on the client while the listener has heard only the start of it. The plot
# shows, for the typed turn, how many milliseconds of answer audio had *arrived* (steep) and
# how many had been *played* (slope 1: a player starting each chunk when it arrives, or when
# the audio before it ends) at each moment.
#
# Watch the two end signals: OpenAI's `response.done` (`GenerationComplete`) marks the end of
# *generation*, and the session's `TurnComplete` comes with it — the answer is complete, but
# still playing. Gemini's server models the playback itself: its `turnComplete` arrives when
# the audio it sent would have finished playing.


# %%
def received_and_played(chunks, t0):
    "(t, received ms) and (t, played ms) step points for a list of AudioChunk events."
    received, played, total, playhead, heard = [(0.0, 0.0)], [(0.0, 0.0)], 0.0, None, 0.0
    for c in chunks:
        at = (c.t - t0) * 1000
        total += c.duration_ms
        received.append((at, total))
        start = at if playhead is None else max(at, playhead)
        if start > (playhead or 0.0):
            played.append((start, heard))  # silence until this chunk starts
        heard += c.duration_ms
        playhead = start + c.duration_ms
        played.append((playhead, heard))
    return received, played


fig, axes = plt.subplots(1, len(runs), figsize=(12, 3.4), sharey=True)
ends = {}
for ax, (provider, run) in zip(axes, runs.items()):
    asked = next(t for n, d, f, t in run.frames if n == 1 and d == "send")
    received, played = received_and_played(run.of(1, ev.AudioChunk), asked)
    ax.plot(*zip(*received), color="#4c72b0", lw=2, label="audio received")
    ax.plot(*zip(*played), color="#55a868", lw=2, label="audio played")
    done = (run.of(1, ev.GenerationComplete)[-1].t - asked) * 1000
    complete = (run.of(1, ev.TurnComplete)[-1].t - asked) * 1000
    ax.axvline(done, color="#8172b3", ls="--", lw=1, label="GenerationComplete")
    ax.axvline(complete, color="#c44e52", ls=":", lw=2, label="TurnComplete")
    ends[provider] = dict(received=received[-1][0], played=played[-1][0], complete=complete)
    ax.set_title(f"{provider}: typed turn", fontsize=10)
    ax.set_xlabel("ms since the question was sent")
axes[0].set_ylabel("ms of answer audio")
axes[0].legend(fontsize=8, loc="lower right")
fig.tight_layout()
lab.show_figure(fig)

# %%
for provider, e in ends.items():
    print(
        f"{provider:7} last audio received at {e['received']:5.0f} ms, "
        f"played until {e['played']:5.0f} ms, TurnComplete at {e['complete']:5.0f} ms"
    )
for provider, e in ends.items():
    lab.check(
        e["received"] < e["played"] * 0.6,
        f"{provider}: the answer arrived much faster than it plays",
        f"all received by {e['received']:.0f} ms, heard by {e['played']:.0f} ms",
        emulator_only=True,
    )
lab.check(
    ends["openai"]["complete"] < ends["openai"]["played"] - 500,
    "openai: TurnComplete comes while the answer is still playing",
    emulator_only=True,
)
lab.check(
    abs(ends["gemini"]["complete"] - ends["gemini"]["played"]) < 400,
    "gemini: turnComplete comes when the assumed playback ends",
    emulator_only=True,
)

# %% [markdown]
# ## Wire frames next to unified events
#
# For each provider: on the left the frames (`→` sent by us, `←` received), on the right the
# events the codec decoded from them. Times are milliseconds since the turn started. Runs of
# streaming frames (audio and transcript deltas) are folded into one row; audio payloads are
# never shown, only their size and duration. Shaded event rows are event kinds that occur on
# **this provider only** in this turn.

# %%
STREAMING_EVENTS = {"AudioChunk", "OutputTranscript", "InputTranscript", "TextDelta"}


def audio_of(frame):
    "(bytes, rate) of the audio a frame carries, or None. Payloads are counted, not shown."
    if frame_type(frame) in ("input_audio_buffer.append", "response.output_audio.delta"):
        return b64_decoded_len(frame.get("audio") or frame.get("delta") or ""), 24000
    blobs = []
    realtime_input = frame.get("realtimeInput", {})
    if isinstance(realtime_input.get("audio"), dict):
        blobs.append(realtime_input["audio"])
    for part in frame.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
        if "inlineData" in part:
            blobs.append(part["inlineData"])
    if not blobs:
        return None
    rate = int(blobs[0].get("mimeType", "rate=24000").split("rate=")[-1])
    return sum(b64_decoded_len(b["data"]) for b in blobs), rate


def is_streaming(frame):
    kind = frame_type(frame)
    return (
        audio_of(frame) is not None
        or kind.endswith(".delta")
        or kind in ("serverContent.outputTranscription", "serverContent.inputTranscription")
    )


def fold(items, streaming, side=lambda item: None):
    "Group consecutive streaming items going the same way (one table row per group)."
    groups = []
    for item in items:
        prev = groups[-1][-1] if groups else None
        if prev is not None and streaming(item) and streaming(prev) and side(item) == side(prev):
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def frame_rows(run, turn):
    frames = [(d, f, t) for n, d, f, t in run.frames if n == turn]
    t0 = frames[0][2]
    rows = []
    for group in fold(frames, lambda x: is_streaming(x[1]), side=lambda x: x[0]):
        d, _, t = group[0]
        counts, audio_bytes, rate = {}, 0, None
        for _, x, _ in group:
            counts[frame_type(x)] = counts.get(frame_type(x), 0) + 1
            if a := audio_of(x):
                audio_bytes, rate = audio_bytes + a[0], a[1]
        names = " + ".join(f"{k}×{n}" if n > 1 else k for k, n in counts.items())
        audio = f"{audio_bytes / 2 / rate * 1000:.0f} ms @ {rate // 1000} kHz" if rate else ""
        rows.append([f"{(t - t0) * 1000:.0f}", "→" if d == "send" else "←", names, audio])
    return rows, t0


def key_fields(e):
    skip = {"provider", "t", "raw", "pcm", "arguments_json", "item_id", "response_id", "limits"}
    out = []
    for f in fields(e):
        v = getattr(e, f.name)
        if f.name in skip or v is None or v == () or f.name == "config":
            continue
        if f.name == "usage":
            v = f"in={v.input_tokens} out={v.output_tokens}"
        out.append(f"{f.name}={v!r}" if isinstance(v, str) else f"{f.name}={v}")
    return ", ".join(out)[:80]


def event_rows(run, turn, t0, only_here):
    rows, shade = [], []
    streaming = lambda e: e.kind in STREAMING_EVENTS and not getattr(e, "final", False)  # noqa: E731
    for group in fold(run.of(turn), streaming):
        e = group[0]
        if len(group) == 1:
            detail = (
                f"{e.duration_ms:.0f} ms @ {e.rate} Hz" if e.kind == "AudioChunk" else key_fields(e)
            )
            rows.append([f"{(e.t - t0) * 1000:.0f}", e.kind, detail])
        else:
            counts = {}
            for x in group:
                counts[x.kind] = counts.get(x.kind, 0) + 1
            ms = sum(x.duration_ms for x in group if x.kind == "AudioChunk")
            words = "".join(x.text for x in group if x.kind != "AudioChunk")
            names = " + ".join(f"{k}×{n}" for k, n in counts.items())
            rows.append([f"{(e.t - t0) * 1000:.0f}", names, f"{ms:.0f} ms audio; {words[:40]!r}"])
        shade.append(any(x.kind in only_here for x in group))
    return rows, shade


def show_turn(turn, title):
    kinds = {p: {e.kind for e in r.of(turn)} for p, r in runs.items()}
    html = [f"<h4>{title}</h4>"]
    for provider, run in runs.items():
        others = set().union(*(k for p, k in kinds.items() if p != provider))
        f_rows, t0 = frame_rows(run, turn)
        e_rows, shade = event_rows(run, turn, t0, kinds[provider] - others)
        wire = lab.html_table(f_rows, ["ms", "", "wire frame", "audio"], title=f"{provider}: wire")
        evs = lab.html_table(e_rows, ["ms", "event", "key fields"], highlight=shade, title="events")
        html.append(lab.side_by_side(wire, evs).data)
    display(HTML("".join(html)))


# %% tags=["nbval-ignore-output"]
show_turn(1, "Turn 1 — typed: " + TEXT)

# %% [markdown]
# Things to notice in the typed turn:
#
# - OpenAI needs **two frames** to ask: `conversation.item.create` (the message) and
#   `response.create` (answer it). Gemini sends one `realtimeInput.text`.
# - OpenAI announces a lot of structure (`response.created`, `output_item.added`,
#   `content_part.added`, …); the session turns it into one `ResponseStarted`. Gemini's first
#   `serverContent` frame *is* the start of the reply.
# - Each side has bookkeeping the other lacks: OpenAI `rate_limits.updated` (`RateLimits`),
#   Gemini `sessionResumptionUpdate` (`ResumptionUpdate`, the handle to resume on a new socket).


# %%
def sent_types(run, turn):
    return [frame_type(f) for n, d, f, t in run.frames if n == turn and d == "send"]


print({p: sent_types(r, 1) for p, r in runs.items()})
lab.check(
    sent_types(runs["openai"], 1) == ["conversation.item.create", "response.create"],
    "openai: a typed turn is two frames (the message, then 'answer it')",
)
lab.check(sent_types(runs["gemini"], 1) == ["realtimeInput.text"], "gemini: one frame")
kinds_seen = {p: {e.kind for _, e in r.events} for p, r in runs.items()}
lab.check(
    "RateLimits" in kinds_seen["openai"] - kinds_seen["gemini"]
    and "ResumptionUpdate" in kinds_seen["gemini"] - kinds_seen["openai"],
    "each provider's own bookkeeping shows up as an event kind only it has",
)

# %% tags=["nbval-ignore-output"]
show_turn(2, "Turn 2 — spoken: " + SPOKEN)

# %% [markdown]
# And in the spoken turn:
#
# - **Rates.** We sent 16 kHz audio. For OpenAI the session resampled it to 24 kHz
#   (`input_audio_buffer.append`, no rate on the frame: it was declared in `session.update`);
#   for Gemini it went out as is, labelled `audio/pcm;rate=16000`. Audio comes back at 24 kHz.
# - **Who decides the turn ended.** OpenAI tells you: `speech_started` / `speech_stopped` /
#   `committed`. Gemini decides silently and just answers; the capability flag
#   `speech_started_events=False` says so instead of the session faking an event.
# - **Tool calls.** OpenAI ends the response that made the call (`response.done`, a
#   `GenerationComplete` with `reason="tool_calls"`), we send the result, and a *new* response
#   answers. Gemini keeps one model turn open around the round trip. Either way your code sees
#   **one** `TurnComplete`, at the end of the answer.
#
# The same facts, measured from the recordings:


# %%
def declared_input_rate(run):
    return next(a[1] for n, d, f, t in run.frames if d == "send" and (a := audio_of(f)))


def shape(run, turn):
    "The tool-call turn as the sequence of the events that matter for its shape."
    kinds = (ev.ResponseStarted, ev.ToolCall, ev.GenerationComplete, ev.TurnComplete)
    out = []
    for e in run.of(turn, kinds):
        reason = getattr(e, "reason", None)
        out.append(e.kind + (f"({reason})" if reason else ""))
    return " → ".join(out)


rows = []
for p, r in runs.items():
    out_rates = sorted({e.rate for e in r.of(2, ev.AudioChunk)})
    rows.append(
        [
            p,
            f"{declared_input_rate(r)} Hz",
            f"{out_rates} Hz",
            len(r.of(2, ev.SpeechStarted)),
            r.capabilities.speech_started_events,
            shape(r, 2),
        ]
    )
header = ["provider", "sent at", "received at", "SpeechStarted", "speech_started_events", "turn 2"]
display(lab.table(rows, header))
lab.check(
    declared_input_rate(runs["openai"]) == 24000 and declared_input_rate(runs["gemini"]) == 16000,
    "the same 16 kHz speech went out at each provider's input rate",
)
lab.check(
    len(runs["openai"].of(2, ev.SpeechStarted)) == 1 and not runs["gemini"].of(2, ev.SpeechStarted),
    "only OpenAI reports where speech started",
)
lab.check(
    all(len(r.of(2, ev.TurnComplete)) == 1 for r in runs.values())
    and len(runs["openai"].of(2, ev.GenerationComplete)) == 2,
    "one TurnComplete per answer on both; OpenAI generated two responses for it",
)

# %% [markdown]
# ### Text frames and binary frames
#
# The frame tap hands you *parsed* frames, which hides one more difference: Gemini's server sends
# its JSON in **binary** WebSocket frames. A plain WebSocket client (no `RealtimeSession`) makes it
# visible: open each provider's socket on the emulator, send the codec's first frame, and look
# at the type of the first message that comes back.

# %%
from websockets.asyncio.client import connect as ws_connect

kinds = {}
for provider in lab.PROVIDERS:
    codec = make_codec(provider)
    request = codec.connect_request(api_key="emulator-accepts-any-key", base_url=lab.emulator_url())
    async with ws_connect(request.url, additional_headers=dict(request.headers)) as ws:
        await ws.send(json.dumps(codec.initial_frames(config)[0]))
        async with asyncio.timeout(10):
            message = await ws.recv()
    kinds[provider] = type(message).__name__
    print(f"{provider:7} first server message is {kinds[provider]}: {message[:40]!r}…")
lab.check(kinds == {"openai": "str", "gemini": "bytes"}, "OpenAI sends text frames, Gemini binary")

# %% [markdown]
# ## Capabilities: the differences as data
#
# Shared code never asks `provider == "openai"`; it asks the session's `capabilities`. Here are
# both codecs' flags, differences shaded:

# %%
caps = {p: make_codec(p).capabilities for p in lab.PROVIDERS}
rows, shade = [], []
for f in fields(Capabilities):
    if f.name == "provider":
        continue
    values = [getattr(caps[p], f.name) for p in lab.PROVIDERS]
    rows.append([f.name, *values])
    shade.append(values[0] != values[1])
display(lab.table(rows, ["capability", *lab.PROVIDERS], highlight=shade))

# %% [markdown]
# ## Listen to both answers
#
# If this page showed the live speakers, they played every answer as it arrived (checked
# below, where a page is playing). Here are the answers to the spoken turn again, as received
# (24 kHz PCM16 from both), in static players you can replay:

# %%
lab.check_played_live()  # only where a browser page plays the speakers
for provider, run in runs.items():
    chunks = run.of(2, ev.AudioChunk)
    pcm = b"".join(c.pcm for c in chunks)
    print(f"{provider}: {len(pcm) / 2 / chunks[0].rate:.1f} s at {chunks[0].rate} Hz")
    display(lab.play(pcm, chunks[0].rate))
