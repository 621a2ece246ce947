"""Cells of notebooks/04_reconnection_and_rotation.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 04 · Reconnection and rotation

Realtime sockets die in ordinary ways: a network blip (no close frame, code 1006), a server
hiccup (1011), OpenAI's 60-minute session cap, Gemini's ~10-minute connections (announced by
`goAway`). Neither provider hands you the conversation back, so **the client owns it**.

`ResilientSession` wraps `RealtimeSession` with the same verbs and the same
`async for event in session`, and keeps the conversation going:

* **reconnect** after an abnormal close (backoff with seeded jitter), then **restore**: *resume*
  with a Gemini resumption handle when one is valid, otherwise *replay* the client-owned
  history onto the new socket; report it as `Reconnected(state_restored=...)`;
* **rotate** proactively before a connection limit (a timer for OpenAI, `goAway` for Gemini),
  switching sockets between two input frames so no audio is lost;
* **persist** the history to a `ConversationStore`, so another process (or device) can pick
  the conversation up.

Faults are injected **server side**, so this notebook always runs against emulators it starts
itself (`EmulatorThread`), even when API keys are set.
"""),
("code", r"""
%matplotlib inline
import asyncio, base64, json, os, tempfile, time
from dataclasses import dataclass, field
import matplotlib.pyplot as plt
from realtimelab import lab, SessionConfig
from realtimelab import events as ev
from realtimelab.emulator.server import EmulatorConfig, EmulatorThread
from realtimelab.emulator.faults import Fault
from realtimelab.resilience import (ReconnectPolicy, ResilientSession, RotationPolicy,
                                    FATAL_CLOSE_CODES, RETRYABLE_CLOSE_CODES, classify_close,
                                    conversation_state)
from realtimelab.store import ConversationStore

lab.banner()
emu = EmulatorThread(EmulatorConfig(speed=lab.emulator_speed())).start()
print("this notebook's emulator:", emu.url)
"""),
("md", r"""
> **Emulator or real provider — the switch.** Faults can only be injected into a server we run,
> so the fault and rotation experiments below always use this notebook's own emulator. The last
> section, **"With a real provider"**, runs a `ResilientSession` against the real service when
> `OPENAI_API_KEY` / `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) is set, and forces one proactive
> rotation there, which needs no server cooperation.
"""),
("md", r"""
## A conversation, and the same conversation with a fault

Three typed turns; the second makes the model call a tool. `converse` runs them through a
`ResilientSession` and, when asked, injects a fault into the live server session with
`emu.inject(session_id, Fault(...))`:

* `Fault("drop")` aborts the TCP connection — no close frame, the client sees **1006**;
* `Fault("close", code=1011)` closes cleanly with **1011** (internal server error).

`when="mid-turn"` fires at the first audio chunk of the tool turn's answer (the model is
talking); `when="between"` fires while the conversation is idle.
"""),
("code", r"""
def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    return {"city": city, "temp_c": 21, "condition": "sunny"}

config = SessionConfig(instructions="You are a helpful assistant. Be brief.", tools=[get_weather])
SCRIPT = ["hello there", "what is the weather in paris", "thank you"]
FAST = ReconnectPolicy(base_delay_s=0.05, seed=1)   # quick retries for the demo
SHOWN = (ev.ToolCall, ev.OutputTranscript, ev.Interrupted, ev.TurnComplete, ev.Error,
         ev.Reconnected, ev.SessionExpiring, ev.InputDropped)


def turn_done(session, event):
    return (isinstance(event, ev.TurnComplete) and event.status == "completed"
            and conversation_state(session.history) == "idle"
            and session.history[-1].kind == "assistant")


def newest_server_session():
    return list(emu.sessions)[-1]


@dataclass
class Run:
    provider: str
    log: list = field(default_factory=list)      # (turn, t, event)
    history: tuple = ()
    stats: object = None


async def converse(provider, fault=None, when="mid-turn", timeout=20):
    run = Run(provider)
    session = ResilientSession(provider, config, url=emu.url, policy=FAST,
                               rotation=RotationPolicy(enabled=False))
    async with session, asyncio.timeout(timeout):
        t0 = time.monotonic()
        for turn, text in enumerate(SCRIPT):
            await session.send_text(text)
            armed = fault is not None and when == "mid-turn" and turn == 1
            async for event in session:
                if isinstance(event, SHOWN) and not (isinstance(event, ev.OutputTranscript) and not event.final):
                    run.log.append((turn, event.t - t0, event))
                if armed and isinstance(event, ev.AudioChunk):
                    armed = False
                    emu.inject(newest_server_session(), fault)
                if isinstance(event, ev.ToolCall):
                    await session.send_tool_response(event.call_id, get_weather(**event.arguments))
                if isinstance(event, ev.Error) and event.fatal:
                    break
                if turn_done(session, event):
                    break
            else:
                break                                   # the session ended
            if run.log and isinstance(run.log[-1][2], ev.Error) and run.log[-1][2].fatal:
                break
            if fault is not None and when == "between" and turn == 0:
                emu.inject(newest_server_session(), fault)
                async for event in session:             # wait for the recovery
                    if isinstance(event, SHOWN):
                        run.log.append((turn, event.t - t0, event))
                    if isinstance(event, ev.Reconnected | ev.Closed):
                        break
    run.history, run.stats = session.history, session.stats
    return run


def describe(event):
    for name in ("text", "state_restored", "message", "reason", "name"):
        value = getattr(event, name, None)
        if value:
            extra = f" gap {event.gap_ms:.1f} ms" if isinstance(event, ev.Reconnected) else ""
            return f"{name}={value!r}{extra}"
    return ""


def show_log(run):
    for turn, t, event in run.log:
        print(f"   turn {turn}  {t:5.2f} s  {event.kind:<15} {describe(event)}")
"""),
("code", r"""
SCENARIOS = [("fault-free", None, "mid-turn"),
             ("drop mid-turn (1006)", Fault("drop"), "mid-turn"),
             ("close 1011 mid-turn", Fault("close", code=1011), "mid-turn"),
             ("drop between turns", Fault("drop"), "between")]
results = {}
for provider in lab.PROVIDERS:
    for name, fault, when in SCENARIOS:
        results[provider, name] = await converse(provider, fault, when)

for provider in lab.PROVIDERS:
    print(f"=== {provider}: drop mid-turn")
    show_log(results[provider, "drop mid-turn (1006)"])
"""),
("md", r"""
Read the log: the tool turn's answer is cut by the drop, so the session closes that turn
(`Interrupted`, `TurnComplete(status="incomplete", reason="connection_lost")`) — your player
stops, code waiting for the turn end is not left hanging. Two non-fatal `Error`s say why (the
codec's report of the close, then the session's "reconnecting"), and `Reconnected` says how
the state came back. The model still owed its answer (the last history
item was the tool result), so it is asked again and spoken in full on the new socket.

Now compare every run with the fault-free one: the history the client owns is **identical**.
"""),
("code", r"""
def shape(history):
    # call ids are random per run: compare what was said and done
    return [(h.kind, getattr(h, "text", None) or getattr(h, "name", None)) for h in history]

for provider in lab.PROVIDERS:
    reference = shape(results[provider, "fault-free"].history)
    print(f"--- {provider}")
    for name, _, _ in SCENARIOS:
        run = results[provider, name]
        restored = [e.state_restored for _, _, e in run.log if isinstance(e, ev.Reconnected)]
        print(f"  {name:22} connections {run.stats.connections}  restored {restored or '-'!s:14} "
              f"history identical: {shape(run.history) == reference}")
print()
for kind, what in reference:
    print(f"  {kind:11} {what}")
"""),
("md", r"""
Why `replayed` on OpenAI and on Gemini mid-turn, but `resumed` on Gemini between turns?
OpenAI has no resumption: a new socket starts empty and the client replays the history as
conversation items. Gemini sends `sessionResumptionUpdate` handles, but one minted mid-turn is
marked **not resumable** (the server is in the middle of a reply); `ResilientSession` only
resumes from a resumable handle that covers the whole history, otherwise it replays.

## Proactive rotation: lose no input frame

Limits are compressed to 3 s in a second private emulator (`openai_max_session_s`,
`gemini_connection_s`). The client streams **numbered** 20 ms audio frames (the number sits in
the first sample; far too faint for the VAD) and the emulator's `frame_tap` records which
server socket received which frame, and when.

* OpenAI gives **no warning**: `RotationPolicy(rotate_before_s=1, max_connection_s=3)` starts a
  timer that fires 1 s before the limit (a `SessionExpiring` from the client itself).
* Gemini sends **`goAway`** with the time left (the emulator sends it 20 % of the lifetime
  before closing); the rotation starts from that `SessionExpiring`.

Either way the new socket opens while the old one is still working, the history is restored
on it, and the switch happens under the send lock: each frame goes to exactly one socket.
"""),
("code", r"""
LIMIT_S = 3.0
arrivals = {}                                    # server session id -> [(t, frame number)]

def frame(n, rate, ms=20):
    return n.to_bytes(2, "little") + bytes(rate * ms // 1000 * 2 - 2)

def frame_number(client_frame):
    msg = json.loads(client_frame)
    if msg.get("type") == "input_audio_buffer.append":          # OpenAI
        data = msg["audio"]
    else:                                                       # Gemini
        data = ((msg.get("realtimeInput") or {}).get("audio") or {}).get("data")
    return int.from_bytes(base64.b64decode(data)[:2], "little") if data else None

def tap(info, direction, raw):                   # runs on the emulator's thread
    frames = arrivals.setdefault(info.session_id, [])
    if direction == "in" and (n := frame_number(raw)) is not None:
        frames.append((time.monotonic(), n))

short = EmulatorThread(EmulatorConfig(speed=lab.emulator_speed(), openai_max_session_s=LIMIT_S,
                                      gemini_connection_s=LIMIT_S), frame_tap=tap).start()
"""),
("code", r"""
async def stream_through_rotation(provider, after=25, timeout=10):
    arrivals.clear()
    rate = 24000 if provider == "openai" else 16000
    marks, sent = [], 0
    rotation = RotationPolicy(rotate_before_s=1.0, max_connection_s=LIMIT_S)
    session = ResilientSession(provider, config, url=short.url, policy=FAST, rotation=rotation)
    async with session, asyncio.timeout(timeout):
        t0 = time.monotonic()
        await session.send_text("hello there")
        async for event in session:
            if turn_done(session, event):
                break

        async def listen():
            async for event in session:
                if isinstance(event, ev.SessionExpiring | ev.Reconnected):
                    marks.append((event.t, event))

        listener = asyncio.create_task(listen())
        switched_at = None
        while switched_at is None or sent < switched_at + after:
            await session.send_audio(frame(sent, rate), rate)   # a microphone's pace
            sent += 1
            await asyncio.sleep(0.02)
            if switched_at is None and any(isinstance(e, ev.Reconnected) for _, e in marks):
                switched_at = sent
        listener.cancel()
        while sum(map(len, arrivals.values())) < sent:            # frames still in flight
            await asyncio.sleep(0.01)
        await session.send_text("thank you")
        async for event in session:
            if turn_done(session, event):
                break
        history = session.history
    sockets = {sid: frames for sid, frames in arrivals.items() if frames}
    return dict(t0=t0, sent=sent, sockets=sockets, marks=marks, history=history)

rotations = {}
for provider in lab.PROVIDERS:
    r = rotations[provider] = await stream_through_rotation(provider)
    received = [n for frames in r["sockets"].values() for _, n in frames]
    print(f"--- {provider}: sent {r['sent']} frames, received {len(received)}, "
          f"in order and none lost: {received == list(range(r['sent']))}")
    for sid, frames in r["sockets"].items():
        print(f"  socket {sid}: frames {frames[0][1]}..{frames[-1][1]}")
    for t, e in r["marks"]:
        print(f"  {t - r['t0']:5.2f} s  {e.kind:<15} {describe(e) or f'time_left_s={e.time_left_s:.2f}'}")
    print("  history:", [h.kind for h in r["history"]])
"""),
("md", r"""
The switch, plotted: each dot is one input frame at the time the server received it, coloured
by socket. Left, the whole stream; right, a zoom on the switch. The server-side gap between the
last frame on the old socket and the first on the new one is one frame period — the frames
kept coming at the microphone's pace, nothing was lost or reordered. The bars compare that gap
with the normal frame spacing and with the client's own switch time (`Reconnected.gap_ms`:
restore and swap under the send lock; the new socket was already open).
"""),
("code", r"""
import statistics

fig, axes = plt.subplots(2, 3, figsize=(12, 5.5), gridspec_kw={"width_ratios": [2, 1.4, 1]})
gap_rows = {}
for row, provider in zip(axes, lab.PROVIDERS):
    r = rotations[provider]
    (old_sid, old), (new_sid, new) = list(r["sockets"].items())[:2]
    switch = (old[-1][0] + new[0][0]) / 2
    for ax, zoom in ((row[0], None), (row[1], 0.15)):
        for label, frames, color in (("old socket", old, "#4c72b0"), ("new socket", new, "#dd8452")):
            ts = [t - r["t0"] for t, _ in frames]
            ax.scatter(ts, [n for _, n in frames], s=6 if zoom is None else 18, color=color, label=label)
        for t, e in r["marks"]:
            ax.axvline(t - r["t0"], ls="--", lw=1, color="gray" if isinstance(e, ev.SessionExpiring) else "black")
        if zoom is not None:
            ax.set_xlim(switch - r["t0"] - zoom, switch - r["t0"] + zoom)
            n0 = old[-1][1]
            ax.set_ylim(n0 - 8, n0 + 9)
        ax.set_xlabel("seconds")
    row[0].axvline(LIMIT_S, color="#c44e52", lw=1.5)
    row[0].text(LIMIT_S, 0, " provider's\n limit", color="#c44e52", fontsize=7, va="bottom")
    row[0].set_xlim(0, LIMIT_S + 0.4)
    row[0].set_ylabel(f"{provider}\nframe number")
    row[0].legend(fontsize=7, loc="upper left")
    row[0].set_title("gray: SessionExpiring, black: Reconnected" if provider == "openai" else "", fontsize=8)
    spacing = statistics.median(b[0] - a[0] for a, b in zip(old, old[1:])) * 1000
    server_gap = (new[0][0] - old[-1][0]) * 1000
    client_gap = next(e.gap_ms for _, e in r["marks"] if isinstance(e, ev.Reconnected))
    gap_rows[provider] = (spacing, server_gap, client_gap)
    bars = row[2].bar(["frame\nspacing", "server gap\nat switch", "client\nswitch"],
                      [spacing, server_gap, client_gap], color=["#999999", "#dd8452", "#55a868"])
    row[2].bar_label(bars, fmt="%.1f ms", fontsize=8)
    row[2].set_ylim(0, max(spacing, server_gap, client_gap) * 1.2)
    row[2].set_ylabel("ms")
axes[0][1].set_title("zoom on the switch", fontsize=9)
fig.tight_layout(); plt.show()
for provider, (spacing, server_gap, client_gap) in gap_rows.items():
    print(f"{provider:7} frame spacing {spacing:5.1f} ms, server gap at the switch {server_gap:5.1f} ms, "
          f"client switch {client_gap:5.2f} ms")
short.stop()
"""),
("md", r"""
## Persistence and device handoff

With `store=ConversationStore(path)` the history is saved (sqlite, WAL) after every completed
turn and at close. A new `ResilientSession` with the same `conversation_id` — another process,
another device, even **another provider** — loads it and replays it before the first turn.
Here a conversation starts on OpenAI and continues on Gemini.
"""),
("code", r"""
async def talk(session, text, timeout=10):
    await session.send_text(text)
    async with asyncio.timeout(timeout):
        async for event in session:
            if isinstance(event, ev.ToolCall):
                await session.send_tool_response(event.call_id, get_weather(**event.arguments))
            if turn_done(session, event):
                return session.history[-1].text

path = os.path.join(tempfile.mkdtemp(prefix="realtimelab-"), "conversations.sqlite")
with ConversationStore(path) as store:
    async with ResilientSession("openai", config, url=emu.url, store=store,
                                conversation_id="kitchen") as phone:
        for text in SCRIPT[:2]:
            print("phone  (openai):", text, "->", await talk(phone, text))
    print("\nstored:", store.list())
    for item in store.load("kitchen"):
        print("  ", item)

with ConversationStore(path) as store:                 # a fresh process would do the same
    async with ResilientSession("gemini", config, url=emu.url, store=store,
                                conversation_id="kitchen") as laptop:
        print("\nlaptop (gemini) starts with", len(laptop.history), "replayed items")
        print("laptop (gemini):", SCRIPT[2], "->", await talk(laptop, SCRIPT[2]))
        replayed = laptop.history
    print("stored now:", store.list()[0].item_count, "items")
print([h.kind for h in replayed])
"""),
("md", r"""
## Fatal or retryable?

Not every close is worth a reconnect. Reopening cannot fix a bad request, an exhausted context
or a refused key — it would fail the same way, forever. `classify_close` decides; a fatal close
surfaces as `Error(fatal=True)` and ends the iteration:
"""),
("code", r"""
for provider in lab.PROVIDERS:
    run = await converse(provider, Fault("close", code=1007))
    last = run.log[-1][2]
    print(f"{provider:7} close 1007 -> {last.kind}(fatal={last.fatal}, message={last.message!r}); "
          f"connections: {run.stats.connections}")

print("\nretryable:", sorted(RETRYABLE_CLOSE_CODES), " fatal:", sorted(FATAL_CLOSE_CODES),
      "+ 3000-4999")
print("classify_close(None) =", classify_close(None), "  (socket dropped, no close frame)")
emu.stop()
"""),
("md", r"""
| close | OpenAI Realtime | Gemini Live | `ResilientSession` |
|---|---|---|---|
| none (TCP reset, **1006**) | network blip | network blip | **retry**: reconnect, restore |
| **1000** from the server | after `session_expired` (60 min cap) | end of connection lifetime, after `goAway` | **retry** (rotation came too late) |
| **1001**, **1011**–**1015** | going away, server error, try again later | the same; 1011 is common under load | **retry** with backoff |
| **1007** | invalid payload | invalid argument / context window exhausted | **fatal**: a replay would exhaust it again |
| **1008** | policy violation | unknown model, bad API key | **fatal** |
| 1002, 1003, 1009, 1010 | protocol errors, frame too big | the same | **fatal** |
| **4000**–4999 | `beta_api_shape_disabled` (old beta frames) | — | **fatal** |
| HTTP 401 / 403 at the handshake | bad key | bad key | **fatal** (429 / 5xx: retry) |
| `error` event `session_expired` | the 60 min cap | — | not fatal: **rotate** now |

The rotation timer and `goAway` exist so that the "retry after 1000" row never happens in a
healthy conversation.
"""),
("md", r"""
## With a real provider

Set `OPENAI_API_KEY` and/or `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) before starting Jupyter and
this cell runs a short `ResilientSession` against the real service: one typed turn, a forced
proactive rotation (`session.rotate()`: a new socket, the conversation carried over by resumption
or replay), and a second turn that only makes sense if the first was carried over. Without keys
it says so and does nothing.
"""),
("code", r"""
real = [p for p in lab.PROVIDERS if lab.backend(p).mode == "real"]
if not real:
    print("no API key set: the real-provider run is skipped (everything above used the emulator)")
for provider in real:
    async with ResilientSession(provider, SessionConfig(instructions="Be brief.")) as session:
        async def reply():
            words = []
            async with asyncio.timeout(60):
                async for e in session:
                    if isinstance(e, ev.OutputTranscript) and e.final:
                        words.append(e.text)
                    if isinstance(e, ev.TurnComplete) and e.status == "completed":
                        return " ".join(words)
        await session.send_text("Please remember the number forty-two.")
        print(provider, "->", await reply())
        rotated = await session.rotate()
        print(provider, "rotated:", rotated, "stats:", session.stats)
        await session.send_text("Which number did I ask you to remember?")
        print(provider, "->", await reply())
"""),
]
