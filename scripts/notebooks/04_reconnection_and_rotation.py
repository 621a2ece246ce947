# %% [markdown]
# # 04 · Reconnection and rotation
#
# Realtime sockets die in ordinary ways: a network blip (no close frame, code 1006), a server
# hiccup (1011), OpenAI's 60-minute session cap, Gemini's ~10-minute connections (announced by
# `goAway`). Neither provider hands you the conversation back, so **the client owns it**.
#
# `ResilientSession` wraps `RealtimeSession` with the same verbs and the same
# `async for event in session`, and keeps the conversation going:
#
# * **reconnect** after an abnormal close (backoff with seeded jitter), then **restore**: *resume*
#   with a Gemini resumption handle when one is valid, otherwise *replay* the client-owned
#   history onto the new socket; report it as `Reconnected(state_restored=...)`;
# * **rotate** proactively before a connection limit (a timer for OpenAI, `goAway` for Gemini)
#   without losing an input frame;
# * **persist** the history to a `ConversationStore`, so another process (or device) can pick
#   the conversation up.
#
# Faults are injected **server side**, so the fault and rotation experiments use emulators this
# notebook starts itself (`EmulatorThread`, one per run so that runs can go side by side), even
# when API keys are set. The last section runs on a real provider when a key is set.

# %%
# %matplotlib inline
import asyncio
import base64
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
from IPython.display import display

from realtimelab import SessionConfig, lab
from realtimelab import events as ev
from realtimelab.emulator.faults import Fault
from realtimelab.emulator.server import EmulatorConfig, EmulatorThread
from realtimelab.resilience import (
    FATAL_CLOSE_CODES,
    RETRYABLE_CLOSE_CODES,
    ReconnectPolicy,
    ResilientSession,
    RotationPolicy,
    classify_close,
    conversation_state,
)
from realtimelab.store import ConversationStore

lab.banner()

# %% [markdown]
# ## A conversation, and the same conversation with a fault
#
# Two typed turns; the first makes the model call a tool. `converse` runs them through a
# `ResilientSession` on a fresh emulator and, when asked, injects a fault into the live server
# session with `emu.inject(session_id, Fault(...))`:
#
# * `Fault("drop")` aborts the TCP connection — no close frame, the client sees **1006**;
# * `Fault("close", code=1011)` closes cleanly with **1011** (internal server error).
#
# `when="mid-turn"` fires at the first audio chunk of the tool turn's answer (the model is
# talking); `when="between"` fires while the conversation is idle.


# %%
def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    return {"city": city, "temp_c": 21, "condition": "sunny"}


config = SessionConfig(instructions="You are a helpful assistant. Be brief.", tools=[get_weather])
SCRIPT = ["what is the weather in paris", "thank you"]
FAST = ReconnectPolicy(base_delay_s=0.05, seed=1)  # quick retries for the demo
# Both services generate faster than real time: an answer can be fully on the wire within a
# fraction of its duration, so "mid-turn" is a narrow window. These emulators generate at real
# time to keep it wide (a drop after the whole answer arrived is covered below).
REAL_TIME_GENERATION = dict(openai_generation_rate=1.0, gemini_generation_rate=1.0)
SHOWN = (
    ev.ToolCall,
    ev.OutputTranscript,
    ev.Interrupted,
    ev.TurnComplete,
    ev.Error,
    ev.Reconnected,
    ev.SessionExpiring,
    ev.InputDropped,
)


def turn_done(session, event):
    "The answer is complete and the model owes nothing (TurnComplete is answer-level)."
    return (
        isinstance(event, ev.TurnComplete)
        and event.status == "completed"
        and conversation_state(session.history) == "idle"
    )


@dataclass
class Run:
    provider: str
    log: list = field(default_factory=list)  # (turn, t, event)
    history: tuple = ()
    stats: object = None
    fatal: ev.Error | None = None


async def converse(provider, fault=None, when="mid-turn", timeout=20, live=False):
    run = Run(provider)
    try:
        return await _converse(run, fault, when, timeout, live)
    except TimeoutError:
        last = [f"{e.kind}({describe(e)})" for _, _, e in run.log[-6:]]
        raise TimeoutError(f"{provider}, fault {fault}, {when}: stuck after {last}") from None


async def _converse(run, fault, when, timeout, live):
    provider = run.provider
    with EmulatorThread(EmulatorConfig(speed=lab.emulator_speed(), **REAL_TIME_GENERATION)) as emu:
        newest = lambda: list(emu.sessions)[-1]  # noqa: E731 - the server session in use
        session = ResilientSession(
            provider,
            config,
            url=emu.url,
            policy=FAST,
            rotation=RotationPolicy(enabled=False),
            player=lab.speaker(provider) if live else None,  # one conversation each is heard
        )
        async with session, asyncio.timeout(timeout):
            t0 = time.monotonic()
            for turn, text in enumerate(SCRIPT):
                await session.send_text(text)
                armed = fault is not None and when == "mid-turn" and turn == 0
                async for event in session:
                    final = not isinstance(event, ev.OutputTranscript) or event.final
                    if isinstance(event, SHOWN) and final:
                        run.log.append((turn, event.t - t0, event))
                    if armed and isinstance(event, ev.AudioChunk):
                        armed = False
                        emu.inject(newest(), fault)
                    if isinstance(event, ev.ToolCall):
                        await session.send_tool_response(
                            event.call_id, get_weather(**event.arguments)
                        )
                    if isinstance(event, ev.Error) and event.fatal:
                        run.fatal = event
                        break
                    if turn_done(session, event):
                        break
                    if (
                        isinstance(event, ev.Reconnected)
                        and conversation_state(session.history) == "idle"
                    ):
                        break  # the whole answer had arrived before the drop: nothing is owed
                if run.fatal is not None:
                    break
                if fault is not None and when == "between" and turn == 0:
                    emu.inject(newest(), fault)
                    async for event in session:  # wait for the recovery
                        if isinstance(event, SHOWN):
                            run.log.append((turn, event.t - t0, event))
                        if isinstance(event, ev.Reconnected | ev.Closed):
                            break
        run.history, run.stats = session.history, session.stats
    return run


def describe(event):
    for name in ("text", "state_restored", "message", "reason", "name"):
        if value := getattr(event, name, None):
            gap = f" gap {event.gap_ms:.1f} ms" if isinstance(event, ev.Reconnected) else ""
            return f"{name}={value!r}{gap}"
    return ""


def show_log(run):
    for turn, t, event in run.log:
        print(f"   turn {turn}  {t:5.2f} s  {event.kind:<15} {describe(event)}")


# %% [markdown]
# Four scenarios on both providers: eight conversations, all at once. The drop mid-turn plays
# live on the speakers below (sound on for the first provider): you hear the answer stop where
# the connection died, and the recovered session answer the next turn.

# %%
speakers = lab.live_players()

# %%
SCENARIOS = {
    "fault-free": (None, "mid-turn"),
    "drop mid-turn (1006)": (Fault("drop"), "mid-turn"),
    "close 1011 mid-turn": (Fault("close", code=1011), "mid-turn"),
    "drop between turns": (Fault("drop"), "between"),
}
keys = [(p, name) for p in lab.PROVIDERS for name in SCENARIOS]
with lab.timed("8 conversations"):
    done = await asyncio.gather(
        *(converse(p, *SCENARIOS[name], live=name.startswith("drop mid")) for p, name in keys)
    )
results = dict(zip(keys, done))

# %% tags=["nbval-ignore-output"]
for provider in lab.PROVIDERS:
    print(f"=== {provider}: drop mid-turn")
    show_log(results[provider, "drop mid-turn (1006)"])

# %% [markdown]
# Read the log: the tool turn's answer is cut by the drop, so the session closes that turn
# (`TurnComplete(status="incomplete", reason="connection_lost")`) — your player stops, code
# waiting for the turn end is not left hanging. Non-fatal `Error`s say why, and `Reconnected`
# says how the state came back. If the model still owed its answer (the last history item was
# the tool result), it is asked again and spoken in full on the new socket; if the whole
# answer had already arrived (it is generated faster than it plays), nothing is asked again.

# %%
for provider in lab.PROVIDERS:
    log = [e for _, _, e in results[provider, "drop mid-turn (1006)"].log]
    cut = [e for e in log if isinstance(e, ev.TurnComplete) and e.status != "completed"]
    lab.check(
        [e.reason for e in cut] == ["connection_lost"],
        f"{provider}: the cut answer ends as an incomplete turn (connection_lost)",
    )
    said = [e.text for e in log if isinstance(e, ev.OutputTranscript)]
    lab.check(
        any("21 degrees" in s for s in said),
        f"{provider}: after the reconnect the answer is given in full",
        emulator_only=True,
    )
lab.check_played_live()  # where a browser page plays the speakers: it played these answers

# %% [markdown]
# Now compare every run with the fault-free one: the history the client owns is **identical**.


# %%
def shape(history):
    # call ids are random per run: compare what was said and done
    return [(h.kind, getattr(h, "text", None) or getattr(h, "name", None)) for h in history]


rows = []
for provider in lab.PROVIDERS:
    reference = shape(results[provider, "fault-free"].history)
    for name in SCENARIOS:
        run = results[provider, name]
        restored = [e.state_restored for _, _, e in run.log if isinstance(e, ev.Reconnected)]
        same = shape(run.history) == reference
        rows.append([provider, name, run.stats.connections, ", ".join(restored) or "-", same])
display(
    lab.table(rows, ["provider", "scenario", "connections", "restored by", "history identical"])
)
lab.check(all(row[-1] for row in rows), "every fault left the client's history identical")
for kind, what in shape(results["openai", "fault-free"].history):
    print(f"  {kind:11} {what}")

# %% [markdown]
# Why `replayed` on OpenAI and on Gemini mid-turn, but `resumed` on Gemini between turns?
# OpenAI has no resumption: a new socket starts empty and the client replays the history as
# conversation items. Gemini sends `sessionResumptionUpdate` handles, but one minted mid-turn is
# marked **not resumable** (the server is in the middle of a reply); `ResilientSession` only
# resumes from a resumable handle that covers the whole history, otherwise it replays.

# %%
restored = {(r[0], r[1]): r[3] for r in rows}
lab.check(
    all(restored["openai", name] in ("-", "replayed") for name in SCENARIOS),
    "OpenAI always replays",
)
lab.check(restored["gemini", "drop between turns"] == "resumed", "Gemini resumes when idle")
lab.check(restored["gemini", "drop mid-turn (1006)"] == "replayed", "…and replays mid-turn")

# %% [markdown]
# ## Proactive rotation: lose no input frame
#
# Limits are compressed to 4 s in private emulators (`openai_max_session_s`,
# `gemini_connection_s`). The client streams **numbered** 20 ms audio frames (the number sits
# in the first sample; far too faint for the VAD) and the emulator's `frame_tap` records which
# server socket received which frame, and when. The two providers need two different moves:
#
# * **OpenAI, make-before-break.** No warning comes: `RotationPolicy(rotate_before_s=1,
#   max_connection_s=4)` starts a timer that fires 1 s before the limit (a `SessionExpiring`
#   from the client itself). The new socket opens while the old one still works, the history
#   is replayed on it, and the switch happens under the send lock: each frame goes to exactly
#   one socket.
# * **Gemini, break-before-make.** `goAway` comes with the time left. The conversation lives on
#   the server and Gemini refuses to resume a session whose old connection is still open
#   (close 1011; the emulator enforces this strict rule), so at an idle point with a fresh
#   handle the old socket is closed *first*, then the session resumes on a new one. Frames
#   sent in between are buffered and flushed in order: the **gap** is measured
#   (`Reconnected.gap_ms`, `stats.rotation_gaps_ms`).

# %%
LIMIT_S = 4.0


def frame(n, rate, ms=20):
    return n.to_bytes(2, "little") + bytes(rate * ms // 1000 * 2 - 2)


def frame_number(client_frame):
    msg = json.loads(client_frame)
    if msg.get("type") == "input_audio_buffer.append":  # OpenAI
        data = msg["audio"]
    else:  # Gemini
        data = ((msg.get("realtimeInput") or {}).get("audio") or {}).get("data")
    return int.from_bytes(base64.b64decode(data)[:2], "little") if data else None


async def stream_through_rotation(provider, after=25, timeout=15):
    arrivals = {}  # server session id -> [(t, frame number)]

    def tap(info, direction, raw):  # runs on the emulator's thread
        if direction == "in" and (n := frame_number(raw)) is not None:
            arrivals.setdefault(info.session_id, []).append((time.monotonic(), n))

    limits = dict(openai_max_session_s=LIMIT_S, gemini_connection_s=LIMIT_S)
    rate = 24000 if provider == "openai" else 16000
    marks, sent = [], 0
    rotation = RotationPolicy(rotate_before_s=1.0, max_connection_s=LIMIT_S)
    with EmulatorThread(EmulatorConfig(speed=lab.emulator_speed(), **limits), frame_tap=tap) as emu:
        session = ResilientSession(provider, config, url=emu.url, policy=FAST, rotation=rotation)
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
                await session.send_audio(frame(sent, rate), rate)  # a microphone's pace
                sent += 1
                await asyncio.sleep(0.02)
                if switched_at is None and any(isinstance(e, ev.Reconnected) for _, e in marks):
                    switched_at = sent
            listener.cancel()
            while sum(map(len, arrivals.values())) < sent:  # frames still in flight
                await asyncio.sleep(0.01)
            stats = session.stats
    sockets = [frames for frames in arrivals.values() if frames]
    return dict(t0=t0, sent=sent, sockets=sockets, marks=marks, stats=stats)


with lab.timed("both providers"):
    rotations = dict(
        zip(lab.PROVIDERS, await asyncio.gather(*map(stream_through_rotation, lab.PROVIDERS)))
    )

# %%
for provider, r in rotations.items():
    received = [n for frames in r["sockets"] for _, n in frames]
    restored = [e.state_restored for _, e in r["marks"] if isinstance(e, ev.Reconnected)]
    print(f"--- {provider}: {len(r['sockets'])} sockets, restored by {restored}")
    lab.check(
        received == list(range(r["sent"])),
        f"{provider}: every frame arrived exactly once, in order, across the switch",
    )
    lab.check(
        r["stats"].rotations == 1 and len(r["stats"].rotation_gaps_ms) == 1,
        f"{provider}: one rotation, its gap measured",
        f"{r['stats'].rotation_gaps_ms[0]:.1f} ms",
    )
lab.check(
    [e.state_restored for _, e in rotations["gemini"]["marks"] if isinstance(e, ev.Reconnected)]
    == ["resumed"],
    "gemini: the conversation resumed on the new socket (break-before-make)",
)

# %% [markdown]
# The switch, plotted: each dot is one input frame at the time the server received it,
# coloured by socket. Left, the whole stream; middle, a zoom on the switch; right, the gaps.
# On OpenAI the frames kept coming at the microphone's pace (the new socket was already open).
# On Gemini there is a short pause while no socket is open, then the buffered frames arrive
# together: nothing is lost or reordered, and the pause is what the strict rule costs.

# %%
import itertools
import statistics

fig, axes = plt.subplots(2, 3, figsize=(12, 5.5), gridspec_kw={"width_ratios": [2, 1.4, 1]})
gaps = {}
for row, provider in zip(axes, lab.PROVIDERS):
    r = rotations[provider]
    old, new = r["sockets"][:2]
    switch = (old[-1][0] + new[0][0]) / 2
    for ax, zoom in ((row[0], None), (row[1], 0.15)):
        for label, frames, color in (
            ("old socket", old, "#4c72b0"),
            ("new socket", new, "#dd8452"),
        ):
            ts = [t - r["t0"] for t, _ in frames]
            ax.scatter(
                ts, [n for _, n in frames], s=6 if zoom is None else 18, color=color, label=label
            )
        for t, e in r["marks"]:
            color = "gray" if isinstance(e, ev.SessionExpiring) else "black"
            ax.axvline(t - r["t0"], ls="--", lw=1, color=color)
        if zoom is not None:
            ax.set_xlim(switch - r["t0"] - zoom, switch - r["t0"] + zoom)
            ax.set_ylim(old[-1][1] - 8, old[-1][1] + 9)
        ax.set_xlabel("seconds")
    row[0].axvline(LIMIT_S, color="#c44e52", lw=1.5)
    row[0].text(LIMIT_S, 0, " provider's\n limit", color="#c44e52", fontsize=7, va="bottom")
    row[0].set_xlim(0, LIMIT_S + 0.4)
    row[0].set_ylabel(f"{provider}\nframe number")
    row[0].legend(fontsize=7, loc="upper left")
    spacing = statistics.median(b[0] - a[0] for a, b in itertools.pairwise(old)) * 1000
    server_gap = (new[0][0] - old[-1][0]) * 1000
    client_gap = r["stats"].rotation_gaps_ms[0]
    gaps[provider] = (spacing, server_gap, client_gap)
    bars = row[2].bar(
        ["frame\nspacing", "server gap\nat switch", "client\nswitch"],
        [spacing, server_gap, client_gap],
        color=["#999999", "#dd8452", "#55a868"],
    )
    row[2].bar_label(bars, fmt="%.1f ms", fontsize=8)
    row[2].set_ylim(0, max(spacing, server_gap, client_gap) * 1.25)
    row[2].set_ylabel("ms")
axes[0][0].set_title("gray: SessionExpiring, black: Reconnected", fontsize=8)
axes[0][1].set_title("zoom on the switch", fontsize=9)
fig.tight_layout()
lab.show_figure(fig)

# %%
for provider, (spacing, server_gap, client_gap) in gaps.items():
    print(
        f"{provider:7} frame spacing {spacing:5.1f} ms, server gap at the switch {server_gap:5.1f} ms, "
        f"client switch {client_gap:5.1f} ms"
    )
lab.check(
    gaps["openai"][1] < 3 * gaps["openai"][0],
    "openai: the server saw no pause longer than a few frame periods",
    emulator_only=True,
)
lab.check(
    gaps["gemini"][2] < 250,
    "gemini: break-before-make costs a pause of well under a quarter second here",
    emulator_only=True,
)

# %% [markdown]
# ## Persistence and device handoff
#
# With `store=ConversationStore(path)` the history is saved (sqlite, WAL) after every completed
# turn and at close. A new `ResilientSession` with the same `conversation_id` — another process,
# another device, even **another provider** — loads it and replays it before the first turn.
# Here a conversation starts on OpenAI and continues on Gemini.


# %%
async def talk(session, text, timeout=10):
    await session.send_text(text)
    async with asyncio.timeout(timeout):
        async for event in session:
            if isinstance(event, ev.ToolCall):
                await session.send_tool_response(event.call_id, get_weather(**event.arguments))
            if turn_done(session, event):
                return session.history[-1].text


path = os.path.join(tempfile.mkdtemp(prefix="realtimelab-"), "conversations.sqlite")
with (
    ConversationStore(path) as store,
    EmulatorThread(EmulatorConfig(speed=lab.emulator_speed())) as emu,
):
    kitchen = dict(url=emu.url, store=store, conversation_id="kitchen")
    async with ResilientSession("openai", config, **kitchen) as phone:
        print("phone  (openai):", SCRIPT[0], "->", await talk(phone, SCRIPT[0]))
    lab.check(bool(store.list()), "the phone's turn was saved when it completed")
    stored = store.load("kitchen")
    print("\nstored:", [item.kind for item in stored])
    async with ResilientSession(
        "gemini", config, **kitchen
    ) as laptop:  # a fresh process would do the same
        replayed = len(laptop.history)
        print("laptop (gemini) starts with", replayed, "replayed items")
        print("laptop (gemini):", SCRIPT[1], "->", await talk(laptop, SCRIPT[1]))
    print("stored now:", store.list()[0].item_count, "items")
lab.check(replayed == len(stored) > 0, "the second device started with the whole stored history")

# %% [markdown]
# ## Fatal or retryable?
#
# Not every close is worth a reconnect. Reopening cannot fix a bad request, an exhausted context
# or a refused key — it would fail the same way, forever. `classify_close` decides; a fatal close
# surfaces as `Error(fatal=True)` and ends the iteration:

# %%
with lab.timed("a 1007 close on both providers"):
    fatal = await asyncio.gather(*(converse(p, Fault("close", code=1007)) for p in lab.PROVIDERS))
for run in fatal:
    print(
        f"{run.provider:7} close 1007 -> {run.fatal.kind}(fatal={run.fatal.fatal}); connections: {run.stats.connections}"
    )
    lab.check(
        run.fatal.fatal and run.stats.connections == 1,
        f"{run.provider}: 1007 is fatal, never retried",
    )
print(
    "\nretryable:",
    sorted(RETRYABLE_CLOSE_CODES),
    " fatal:",
    sorted(FATAL_CLOSE_CODES),
    "+ 3000-4999",
)
lab.check(classify_close(None) == "retry", "a socket dropped without a close frame is retried")

# %% [markdown]
# | close | OpenAI Realtime | Gemini Live | `ResilientSession` |
# |---|---|---|---|
# | none (TCP reset, **1006**) | network blip | network blip | **retry**: reconnect, restore |
# | **1000** from the server | after `session_expired` (60 min cap) | end of connection lifetime, after `goAway` | **retry** (rotation came too late) |
# | **1001**, **1011**–**1015** | going away, server error, try again later | the same; 1011 is common under load | **retry** with backoff |
# | **1007** | invalid payload | invalid argument / context window exhausted | **fatal**: a replay would exhaust it again |
# | **1008** | policy violation | unknown model, bad API key | **fatal** |
# | 1002, 1003, 1009, 1010 | protocol errors, frame too big | the same | **fatal** |
# | **4000**–4999 | `beta_api_shape_disabled` (old beta frames) | — | **fatal** |
# | HTTP 401 / 403 at the handshake | bad key | bad key | **fatal** (429 / 5xx: retry) |
# | `error` event `session_expired` | the 60 min cap | — | not fatal: **rotate** now |
#
# The rotation timer and `goAway` exist so that the "retry after 1000" row never happens in a
# healthy conversation.
#
# ## With a real provider
#
# With a key set (see the banner), this cell runs a short `ResilientSession` against the real
# service: one typed turn, a forced proactive rotation (`session.rotate()`), and a second turn
# that only makes sense if the first was carried over. Without keys it says so.

# %%
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
        print(provider, "rotated:", await session.rotate(), "stats:", session.stats)
        await session.send_text("Which number did I ask you to remember?")
        print(provider, "->", await reply())
