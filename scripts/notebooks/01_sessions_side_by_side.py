"""Cells of notebooks/01_sessions_side_by_side.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 01 · Sessions side by side

One `RealtimeSession`, two providers. We open **the same session** (one `SessionConfig`) on
OpenAI Realtime and on Gemini Live, take **the same two turns** — one typed, one spoken — and
put what travelled over the WebSocket (**wire frames**) next to what your code iterates over
(**unified events**).

The point of the exercise: the *meaning* is the same on both providers, the *wire* is not.

| | OpenAI Realtime | Gemini Live |
|---|---|---|
| frame names | `"type": "response.output_audio.delta"` | a oneof of top-level keys: `serverContent.modelTurn` |
| spelling | snake_case | camelCase (`turnComplete`, `mimeType`) |
| server frames | text WebSocket frames | **binary** WebSocket frames holding UTF-8 JSON |
| audio in / out | 24 kHz / 24 kHz PCM16 | 16 kHz / 24 kHz PCM16 |
| "user started / stopped talking" | `input_audio_buffer.speech_started` / `_stopped` | not sent |
| a turn with a tool call | two responses (call, then answer) | one model turn around the call |

Everything below runs against the local emulator unless you set an API key (see the last section).
"""),
("code", r"""
%matplotlib inline
import asyncio, json, time
from dataclasses import dataclass, field, fields
import matplotlib.pyplot as plt
from IPython.display import HTML, display
from realtimelab import lab, connect, SessionConfig
from realtimelab import events as ev
from realtimelab.observe import frame_type, b64_decoded_len
from realtimelab.providers import make_codec
from realtimelab.providers.base import Capabilities

lab.banner()
"""),
("md", r"""
## One configuration, two wire formats

`SessionConfig` is provider-neutral: a neutral voice name (`"warm"`), a tool given as a plain
Python function (its signature and docstring become the JSON Schema), transcription switches.
Each provider's **codec** turns it into that provider's first frame. Codecs are *sans-IO* —
no socket needed to see what they would send:
"""),
("code", r"""
def get_weather(city: str) -> dict:
    "Get the current weather in a city."
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}

config = SessionConfig(
    instructions="You are a friendly assistant. Be brief.",
    voice="warm",
    input_transcription=True,
    tools=[get_weather],
)

for provider in lab.PROVIDERS:
    first = make_codec(provider).initial_frames(config)[0]
    print(f"--- {provider}: {frame_type(first)}")
    print(json.dumps(first, indent=1)[:900], "...\n")
"""),
("md", r"""
Same voice, two names (`coral` on OpenAI, a Gemini voice name in `speechConfig`); the tool's
schema appears as JSON Schema for OpenAI and in Gemini's `functionDeclarations`; the input
rate is declared once in `session.audio.input.format` for OpenAI, while Gemini labels every
audio chunk with `mimeType: audio/pcm;rate=16000`.

## Run the same conversation on both

`connect(provider, config, frame_tap=...)` calls the tap with every frame, parsed, in both
directions. We record frames and events for two turns:

1. typed: *"Hello there! What voice are you using?"*
2. spoken: *"What is the weather in Paris?"* (16 kHz speech; `send_audio` resamples it to
   the provider's input rate), which makes the model call `get_weather`.

Every `async for` below stops at the end of the model's turn or after a timeout, so a cell can
never hang. A `TurnComplete` whose reason is `"tool_calls"` is *not* the end of the answer
(OpenAI closes the response that asked for the tool and answers in a new one).
"""),
("code", r"""
TEXT = "Hello there! What voice are you using?"
SPOKEN = "What is the weather in Paris?"
speech16k = lab.utterance(SPOKEN, 16000, fixture="weather_paris")
lab.warm_up_emulator()   # load the emulator's speech recogniser now, not during the first turn


@dataclass
class Run:
    provider: str
    capabilities: Capabilities | None = None
    frames: list = field(default_factory=list)   # (turn, direction, frame, t)
    events: list = field(default_factory=list)   # (turn, event)
    turn: int = 0                                # the turn being recorded


async def until_answered(session, run, timeout=30):
    "Record events until the model's answer is complete; answer tool calls on the way."
    try:
        async with asyncio.timeout(timeout):
            async for event in session:
                run.events.append((run.turn, event))
                if isinstance(event, ev.ToolCall):
                    await session.send_tool_response(event.call_id, get_weather(**event.arguments))
                elif isinstance(event, ev.TurnComplete) and event.reason != "tool_calls":
                    return
    except TimeoutError:
        print(f"{run.provider}: no complete answer within {timeout} s")


async def converse(provider):
    run = Run(provider)
    def tap(direction, frame, t):            # called for every frame, both directions
        run.frames.append((run.turn, direction, frame, t))
    async with connect(provider, config, frame_tap=tap, **lab.connect_kwargs(provider)) as session:
        run.capabilities = session.capabilities
        run.turn = 1
        await session.send_text(TEXT)
        await until_answered(session, run)
        run.turn = 2
        await lab.send_speech(session, speech16k, 16000, realtime=True)
        await until_answered(session, run)
    return run


runs = {}
for provider in lab.PROVIDERS:
    started = time.perf_counter()
    runs[provider] = await converse(provider)
    r = runs[provider]
    print(f"{provider}: {len(r.frames)} frames, {len(r.events)} events "
          f"in {time.perf_counter() - started:.1f} s")
    for turn in (1, 2):
        said = [e.text for t, e in r.events if t == turn and isinstance(e, ev.OutputTranscript) and e.final]
        print(f"   turn {turn}: {' / '.join(said)}")
"""),
("md", r"""
## Wire frames next to unified events

For each provider: on the left the frames (`→` sent by us, `←` received), on the right the
events the codec decoded from them. Times are milliseconds since the turn started. Runs of
streaming frames (audio and transcript deltas) are folded into one row; audio payloads are
never shown, only their size and duration.

Shaded event rows are event kinds that occur on **this provider only** in this turn.
"""),
("code", r"""
STREAMING_EVENTS = {"AudioChunk", "OutputTranscript", "InputTranscript", "TextDelta"}


def _audio_of(frame):
    "(bytes, rate) of the audio a frame carries, or None. Payloads are counted, not shown."
    kind = frame_type(frame)
    if kind in ("input_audio_buffer.append", "response.output_audio.delta"):
        data = frame.get("audio") or frame.get("delta") or ""
        return b64_decoded_len(data), 24000
    blobs = []
    ri = frame.get("realtimeInput", {})
    if isinstance(ri.get("audio"), dict):
        blobs.append(ri["audio"])
    for part in frame.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
        if "inlineData" in part:
            blobs.append(part["inlineData"])
    if not blobs:
        return None
    rate = int(blobs[0].get("mimeType", "rate=24000").split("rate=")[-1])
    return sum(b64_decoded_len(b["data"]) for b in blobs), rate


def _is_streaming_frame(frame):
    kind = frame_type(frame)
    return (_audio_of(frame) is not None or kind.endswith(".delta")
            or kind in ("serverContent.outputTranscription", "serverContent.inputTranscription"))


def _fold(items, streaming, side=lambda item: None):
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
    t0 = frames[0][2] if frames else 0.0
    rows = []
    for group in _fold(frames, lambda x: _is_streaming_frame(x[1]), side=lambda x: x[0]):
        d, f, t = group[0]
        arrow = "→" if d == "send" else "←"
        size = sum(len(json.dumps(x[1], separators=(",", ":"))) for x in group)
        counts = {}
        audio_bytes, rate = 0, None
        for _, x, _ in group:
            counts[frame_type(x)] = counts.get(frame_type(x), 0) + 1
            a = _audio_of(x)
            if a:
                audio_bytes += a[0]; rate = a[1]
        names = " + ".join(f"{n}×{k}" if n > 1 else k for k, n in counts.items())
        audio = f"{audio_bytes / 2 / rate * 1000:.0f} ms audio @ {rate // 1000} kHz" if rate else ""
        rows.append([f"{(t - t0) * 1000:.0f}", arrow, names, size, audio])
    return rows, t0


def _key_fields(e):
    skip = {"provider", "t", "raw", "pcm", "arguments_json", "item_id", "response_id", "limits", "config"}
    out = []
    for f in fields(e):
        v = getattr(e, f.name)
        if f.name in skip or v is None or v == ():
            continue
        if f.name == "usage":
            v = f"in={v.input_tokens} out={v.output_tokens}"
        out.append(f"{f.name}={v!r}" if isinstance(v, str) else f"{f.name}={v}")
    return ", ".join(out)[:90]


def event_rows(run, turn, t0, only_here):
    events = [e for n, e in run.events if n == turn]
    rows, shade = [], []
    for group in _fold(events, lambda e: e.kind in STREAMING_EVENTS and not getattr(e, "final", False)):
        e = group[0]
        if len(group) == 1:
            detail = _key_fields(e)
            if isinstance(e, ev.AudioChunk):
                detail = f"{e.duration_ms:.0f} ms @ {e.rate} Hz"
            rows.append([f"{(e.t - t0) * 1000:.0f}", e.kind, detail])
        else:
            counts = {}
            for x in group:
                counts[x.kind] = counts.get(x.kind, 0) + 1
            audio = [x for x in group if isinstance(x, ev.AudioChunk)]
            ms = sum(x.duration_ms for x in audio)
            words = "".join(x.text for x in group if isinstance(x, ev.OutputTranscript | ev.InputTranscript))
            detail = (f"{ms:.0f} ms @ {audio[0].rate} Hz; " if audio else "") + repr(words[:50])
            rows.append([f"{(e.t - t0) * 1000:.0f}", " + ".join(f"{k}×{n}" for k, n in counts.items()), detail])
        shade.append(any(x.kind in only_here for x in group))
    return rows, shade


def show_turn(turn, title):
    kinds = {p: {e.kind for n, e in r.events if n == turn} for p, r in runs.items()}
    html = [f"<h4>{title}</h4>"]
    for provider, run in runs.items():
        other = next(k for p, k in kinds.items() if p != provider)
        f_rows, t0 = frame_rows(run, turn)
        e_rows, shade = event_rows(run, turn, t0, kinds[provider] - other)
        html.append(lab.side_by_side(
            lab.html_table(f_rows, ["ms", "", "wire frame", "bytes", "audio"], title=f"{provider}: wire"),
            lab.html_table(e_rows, ["ms", "event", "key fields"], highlight=shade, title=f"{provider}: events"),
        ).data)
    display(HTML("".join(html)))


show_turn(1, "Turn 1 — typed: " + TEXT)
"""),
("md", r"""
Things to notice in the typed turn:

- OpenAI needs **two frames** to ask: `conversation.item.create` (the message) and
  `response.create` (answer it). Gemini sends one `realtimeInput.text`.
- OpenAI announces a lot of structure (`response.created`, `output_item.added`,
  `content_part.added`, …); the session turns it into one `ResponseStarted`. Gemini's first
  `serverContent` frame *is* the start of the reply.
- Both stream audio and transcript deltas interleaved, and end with usage:
  OpenAI `response.done` → `TurnComplete`, Gemini `turnComplete` + `usageMetadata` → `TurnComplete`.
- Each side has bookkeeping the other lacks: OpenAI `rate_limits.updated` (`RateLimits`),
  Gemini `sessionResumptionUpdate` (`ResumptionUpdate`, the handle to resume on a new socket).
"""),
("code", r"""
show_turn(2, "Turn 2 — spoken: " + SPOKEN)
"""),
("md", r"""
And in the spoken turn:

- **Rates.** We sent 16 kHz audio. For OpenAI the session resampled it to 24 kHz
  (`input_audio_buffer.append`, no rate on the frame: it was declared in `session.update`);
  for Gemini it went out as is, labelled `audio/pcm;rate=16000`. Audio comes back at 24 kHz
  on both.
- **Who decides the turn ended.** OpenAI tells you: `speech_started` / `speech_stopped` /
  `committed` (→ `SpeechStarted`, `SpeechStopped`, `InputCommitted`). Gemini decides
  silently and just answers; there is no `SpeechStarted`, and the capability flag
  `speech_started_events=False` says so instead of the session faking one.
- **Tool calls.** OpenAI ends the response that made the call (`TurnComplete` with
  `reason="tool_calls"`), we send the result, and a *new* response answers. Gemini keeps one
  model turn open around the `toolCall` / `toolResponse` round trip and completes once.
  That is `Capabilities.tool_call_ends_turn`.

The same facts, measured from the recordings rather than asserted:
"""),
("code", r"""
def declared_input_rate(run):
    for n, d, f, t in run.frames:
        if d == "send" and (a := _audio_of(f)):
            return a[1]

def shape(run, turn):
    "The tool-call turn as a sequence of the events that matter for its shape."
    out = []
    for n, e in run.events:
        if n == turn and isinstance(e, ev.ResponseStarted | ev.ToolCall | ev.TurnComplete):
            out.append(e.kind + (f"({e.reason})" if isinstance(e, ev.TurnComplete) and e.reason else ""))
    return " → ".join(out)

rows = []
for p, r in runs.items():
    caps = r.capabilities
    out_rates = sorted({e.rate for n, e in r.events if isinstance(e, ev.AudioChunk)})
    rows.append([p, f"{declared_input_rate(r)} Hz", f"{out_rates} Hz",
                 sum(isinstance(e, ev.SpeechStarted) for n, e in r.events), caps.speech_started_events,
                 caps.tool_call_ends_turn, shape(r, 2)])
display(HTML(lab.html_table(rows, ["provider", "audio sent at", "audio received at", "SpeechStarted events",
                                   "caps.speech_started_events", "caps.tool_call_ends_turn", "turn 2 shape"])))
"""),
("md", r"""
### Text frames and binary frames

The frame tap hands you *parsed* frames, which hides one more difference: Gemini's server sends
its JSON in **binary** WebSocket frames. A plain WebSocket client (no `RealtimeSession`) makes it
visible: open each provider's socket on the emulator, send the codec's first frame, and look
at the type of the first message that comes back.
"""),
("code", r"""
from websockets.asyncio.client import connect as ws_connect

for provider in lab.PROVIDERS:
    codec = make_codec(provider)
    request = codec.connect_request(api_key="emulator-accepts-any-key", base_url=lab.emulator_url())
    async with ws_connect(request.url, additional_headers=dict(request.headers)) as ws:
        await ws.send(json.dumps(codec.initial_frames(config)[0]))
        async with asyncio.timeout(10):
            message = await ws.recv()
    print(f"{provider:7} first server message: {type(message).__name__:5} {message[:60]!r}…")
"""),
("md", r"""
## Capabilities: the differences as data

Shared code never asks `provider == "openai"`; it asks the session's `capabilities`. Here are
both codecs' flags, differences shaded:
"""),
("code", r"""
caps = {p: make_codec(p).capabilities for p in lab.PROVIDERS}
rows, shade = [], []
for f in fields(Capabilities):
    if f.name == "provider":
        continue
    values = [getattr(caps[p], f.name) for p in lab.PROVIDERS]
    rows.append([f.name, *values])
    shade.append(values[0] != values[1])
display(HTML(lab.html_table(rows, ["capability", *lab.PROVIDERS], highlight=shade)))
"""),
("md", r"""
## Listen to both answers

The answers to the spoken turn, as received (24 kHz PCM16 from both):
"""),
("code", r"""
for provider, run in runs.items():
    chunks = [e for n, e in run.events if n == 2 and isinstance(e, ev.AudioChunk)]
    if chunks:
        pcm = b"".join(c.pcm for c in chunks)
        print(f"{provider}: {len(pcm) / 2 / chunks[0].rate:.1f} s at {chunks[0].rate} Hz")
        display(lab.play(pcm, chunks[0].rate))
"""),
("md", r"""
## Timelines

Every event carries `t` from the session's monotonic clock. One row per event kind, both turns,
in milliseconds since the session's first frame; dotted lines are the control frames we sent
(the text message, the tool result), the shaded stretch is our speech streaming out. Compare where the spoken turn's reply starts: OpenAI
reports the end of speech first (`SpeechStopped`), Gemini goes straight to the answer.

Headless runs (the test suite) speed the emulator's pacing up
(`REALTIMELAB_EMULATOR_SPEED`), which compresses the audio stretches; in the lab it streams
at the pace of speech, as a real service does. Either way these are *emulator* timings — see
notebook 06 for why they say nothing about the providers' latency.
"""),
("code", r"""
fig, axes = plt.subplots(len(runs), 1, figsize=(11, 2.2 + 2.0 * len(runs)), sharex=True)
for ax, (provider, run) in zip(axes, runs.items()):
    t0 = run.frames[0][3]
    kinds = list(dict.fromkeys(e.kind for n, e in run.events))
    y = {k: i for i, k in enumerate(kinds)}
    for n, e in run.events:
        x = (e.t - t0) * 1000
        color = "#4c72b0" if n == 1 else "#dd8452"
        thin = isinstance(e, ev.AudioChunk | ev.OutputTranscript)   # many small ones
        ax.plot(x, y[e.kind], "|", color=color, ms=8 if thin else 12, mew=1 if thin else 2)
    for n, d, f, t in run.frames:
        if d == "send" and not _is_streaming_frame(f):
            ax.axvline((t - t0) * 1000, color="gray", lw=0.8, ls=":")
    sent = [(t - t0) * 1000 for n, d, f, t in run.frames if d == "send" and _audio_of(f)]
    if sent:
        ax.axvspan(min(sent), max(sent), color="#dd8452", alpha=0.1)
    ax.set_yticks(range(len(kinds)), kinds, fontsize=8)
    ax.set_title(f"{provider}  (blue: typed turn, orange: spoken turn, shaded: our speech streaming out, "
                 "dotted: control frames we sent)",
                 fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
axes[-1].set_xlabel("ms since the session's first frame")
fig.tight_layout(); plt.show()
"""),
("md", r"""
## Use a real provider

**Nothing above is emulator-specific.** `lab.connect_kwargs(provider)` returns
`{"url": <emulator>}` only while no key is set; with a key it returns `{}` and `connect` goes to
the real service. To switch:

| provider | environment variable (set before starting Jupyter) |
|---|---|
| OpenAI Realtime | `OPENAI_API_KEY` |
| Gemini Live | `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) |

```bash
export OPENAI_API_KEY=...      # in the shell that runs `python3 dev.py lab`
```

then restart the kernel and run the notebook again: the banner at the top says
`REAL service (key from $OPENAI_API_KEY)`. Keys are read from the environment by `connect`, held
in a `Secret` that never prints itself, and **never sent to a loopback URL** (the emulator
accepts any key). Real sessions cost money (see notebook 06) and real models answer freely, so
the transcripts will differ; the frames and events keep the same shapes.

The cell below shows where each provider would go — it prints the variable's *name*, never
its value.
"""),
("code", r"""
for provider in lab.PROVIDERS:
    print(lab.backend(provider).describe())
"""),
]
