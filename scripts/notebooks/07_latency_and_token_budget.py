# %% [markdown]
# # 07 · The latency and token budget
#
# A spoken reply feels instant when it starts within about **300 ms** of the user falling
# silent; past a second it feels like a bad phone line. This notebook takes one spoken turn
# apart, on both providers, and puts a number on every piece:
#
# 1. **where the time to first audio goes**: the VAD's silence window, hearing, the model's
#    first audio, the network, the player;
# 2. **what VAD settings cost**, in milliseconds and in tokens;
# 3. **audio tokens and cost per minute** for both providers, from `data/prices.json`;
# 4. **the arithmetic** behind a sub-300 ms perceived reply, and a run that meets it.
#
# Two clocks run through all of it (`docs/timing.md`; `realtimelab.metrics` keeps them apart):
#
# | clock | fields of `TurnMetrics` | what it says |
# |---|---|---|
# | **wire** | `wire_first_audio_ms`, `wire_last_audio_ms`, `ttfb_ms`, `ttlb_ms` | when bytes *arrived* |
# | **audible** | `audible_first_ms`, `audible_last_ms`, `perceived_ms` | when the listener *hears* them |
#
# `perceived_ms` runs from where the user's speech really ended, by the client's own VAD (the
# same detector for every provider, back-dated to the audio), to the first audible audio. It is
# the number to compare providers by. The metrics read it all from an event log's lines:
# frames, events, and the session's trace points (`speech_end`, `user_end`).

# %%
# %matplotlib inline
import asyncio
import math

import matplotlib.pyplot as plt
from IPython.display import display

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.config import Vad
from realtimelab.events import Usage
from realtimelab.metrics import cost, price_for, turn_metrics
from realtimelab.observe import EventLog
from realtimelab.vad import VadParams, detect_segments

lab.banner()
lab.warm_up_emulator()

SPOKEN = lab.utterance("Hello there", 16000)  # what the user says, 16 kHz PCM16
BRIEF = "You are a friendly voice assistant. Be brief."


async def spoken_turn(provider, *, silence_ms=500, url=None, push_to_talk=False):
    """The user says "Hello there" (paced like a microphone); returns the TurnMetrics of that
    turn, usage included. `url`: an emulator of our own instead of the lab's backend.
    `push_to_talk`: no server VAD; the client ends the turn where the speech ends, and we stop
    at the first audio (all that is measured then)."""
    log = EventLog()  # in memory: lines for `turn_metrics`
    vad = Vad(mode="manual") if push_to_talk else Vad(silence_duration_ms=silence_ms)
    where = {"url": url} if url else lab.connect_kwargs(provider)
    config = SessionConfig(instructions=BRIEF, vad=vad)
    async with connect(provider, config, frame_tap=log.frame, **where) as session:
        log.attach(session)  # the session's trace points: speech_end, user_end
        if push_to_talk:
            await lab.send_speech(session, SPOKEN_TRIMMED, 16000, silence_ms=0, realtime=True)
            await session.commit()  # the user lets go of the button
            if session.capabilities.manual_commit:  # OpenAI: a commit alone asks for nothing
                await session.create_response()
            sender = None
        else:  # the speech, then silence for the server's VAD to hear the end
            sender = asyncio.create_task(
                lab.send_speech(session, SPOKEN, 16000, silence_ms=silence_ms + 600, realtime=True)
            )
        until = ev.AudioChunk if push_to_talk else ev.TurnComplete
        async with asyncio.timeout(20):
            async for event in session:
                log.event(event)
                if isinstance(event, until):
                    break
        if sender is not None:
            await sender
    return next(m for m in turn_metrics(log.lines) if m.user_input in ("speech", "commit"))


async def best_of(runs, provider, url):
    """The quickest of `runs` push-to-talk turns, one after another, and all their times: the
    emulator's `first_audio_ms` is a floor, which its own work and this machine's load only
    ever add to, so the best run shows the floor."""
    turns = [await spoken_turn(provider, url=url, push_to_talk=True) for _ in range(runs)]
    return min(turns, key=lambda m: m.ttfb_ms), [round(m.ttfb_ms) for m in turns]


# where the speech itself ends (the detector the client uses), for push-to-talk below
SPEECH_END_MS = detect_segments(SPOKEN, 16000, VadParams())[-1].end_ms
SPOKEN_TRIMMED = SPOKEN[: SPEECH_END_MS * 32]
print(f"the user speaks for {SPEECH_END_MS} ms ({len(SPOKEN) / 32:.0f} ms with the quiet tail)")

# %% [markdown]
# ## One spoken turn, step by step
#
# Both providers, the same recording, the same VAD: the server ends the turn after
# **500 ms of silence** (`Vad(silence_duration_ms=500)`). The timeline is measured from where the
# user stopped talking:

# %%
SILENCE = 500
with lab.timed("one spoken turn on each provider"):
    base = dict(zip(lab.PROVIDERS, await asyncio.gather(*map(spoken_turn, lab.PROVIDERS))))


def since_end(m, t):
    """Milliseconds from the end of the user's speech (client VAD) to `t`."""
    return None if t is None else t - (m.audible_first_ms - m.perceived_ms)


def ms(value):
    return "not reported" if value is None else f"{value:.0f} ms"


rows = []
for provider, m in base.items():
    decided = since_end(m, m.user_speech_end_ms) if m.speech_end_source == "server" else None
    rows += [
        [provider, "the user stops talking (client VAD, back-dated)", ms(0)],
        [provider, "the server's VAD ends the turn (SpeechStopped)", ms(decided)],
        [provider, "first audio arrives (wire)", ms(since_end(m, m.wire_first_audio_ms))],
        [provider, "first audio is heard (perceived)", ms(m.perceived_ms)],
        [provider, "last audio arrives (wire)", ms(since_end(m, m.wire_last_audio_ms))],
        [provider, "last audio is heard", ms(since_end(m, m.audible_last_ms))],
    ]
lab.table(rows, ["provider", "moment", "after the user stopped"])

# %% [markdown]
# Read it top to bottom:
#
# * **the silence window** is the first big piece: the server cannot know the user is done
#   until the silence has lasted `silence_duration_ms`. OpenAI says when it decided
#   (`SpeechStopped`, ~500 ms in); Gemini sends no speech events, so its decision only shows
#   as the answer;
# * **the model** answers about **250 ms** after the decision: the emulator's
#   `first_audio_ms` floor (hearing the last words and synthesising the first phrase fit in
#   it). Real models take several hundred ms here;
# * **the network** is zero on `127.0.0.1`; **the player** here is the kit's playout model,
#   which plays each chunk on arrival, so *first audio arrives* = *first audio is heard*;
# * **the last byte** arrives long before the last word is heard: both services generate
#   faster than real time (the emulator: OpenAI **4×**, Gemini **3×**). `ttlb_ms` says the
#   server is done, not that the listener is.

# %%
RATE = {"openai": 4.0, "gemini": 3.0}  # the emulator's generation speed (docs/emulator-timing.md)
for provider, m in base.items():
    wire_ms = m.wire_last_audio_ms - m.wire_first_audio_ms
    heard_ms = m.audible_last_ms - m.audible_first_ms
    if m.speech_end_source == "server":
        decided = since_end(m, m.user_speech_end_ms)
        lab.check(
            abs(decided - SILENCE) < 100,
            f"{provider}: the server ended the turn after the silence window",
            f"{decided:.0f} ms after the speech ended",
            emulator_only=True,
        )
    model_ms = m.perceived_ms - SILENCE
    lab.check(
        150 < model_ms < 450,
        f"{provider}: the rest of the first-audio time is the model's ~250 ms",
        f"{model_ms:.0f} ms after the silence window",
        emulator_only=True,
    )
    lab.check(
        m.audible_first_ms == m.wire_first_audio_ms,
        f"{provider}: the playout model plays the first chunk on arrival",
    )
    lab.check(
        abs(wire_ms * RATE[provider] - m.audio_out_ms) < 0.2 * m.audio_out_ms,
        f"{provider}: the answer arrives {RATE[provider]:.0f}x faster than it plays",
        f"{m.audio_out_ms:.0f} ms of audio on the wire in {wire_ms:.0f} ms",
        emulator_only=True,
    )
    lab.check(
        abs(heard_ms - m.audio_out_ms) < 50,
        f"{provider}: it is heard for as long as it lasts",
        f"{heard_ms:.0f} ms",
    )

# %%
fig, ax = plt.subplots(figsize=(10, 2.6))
for y, m in enumerate(base.values()):
    first, last = since_end(m, m.wire_first_audio_ms), since_end(m, m.wire_last_audio_ms)
    heard = (since_end(m, m.audible_first_ms), since_end(m, m.audible_last_ms))
    ax.barh(y, SILENCE, color="#dddddd", hatch="//", edgecolor="#999999", height=0.5)
    ax.barh(y, first - SILENCE, left=SILENCE, color="#dd8452", height=0.5)
    ax.barh(y - 0.3, last - first, left=first, color="#2d6a3e", height=0.12)
    ax.barh(y + 0.05, heard[1] - heard[0], left=heard[0], color="#55a868", height=0.4)
    ax.text(first + 20, y - 0.42, f"last byte {last:.0f} ms", fontsize=7, color="#2d6a3e")
ax.axvline(300, color="#c44e52", ls="--", lw=1)
ax.text(305, -0.75, "300 ms", color="#c44e52", fontsize=8)
ax.set_yticks(range(len(base)), list(base))
ax.set_ylim(len(base) - 0.4, -0.9)
ax.set_xlabel("ms after the user stopped talking")
ax.legend(
    handles=[
        plt.Rectangle((0, 0), 1, 1, color="#dddddd", hatch="//", ec="#999999"),
        plt.Rectangle((0, 0), 1, 1, color="#dd8452"),
        plt.Rectangle((0, 0), 1, 1, color="#2d6a3e"),
        plt.Rectangle((0, 0), 1, 1, color="#55a868"),
    ],
    labels=["VAD silence window", "model (+ hearing, network)", "audio on the wire", "audio heard"],
    fontsize=7,
    ncol=4,
    loc="upper center",
    bbox_to_anchor=(0.5, 1.3),
    frameon=False,
)
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# ## What the VAD silence costs
#
# The silence window is the one piece you set. Shorter ends turns sooner, but cuts users off at
# their own pauses (notebook 03 shows turns splitting inside sentences at 100 ms); longer waits
# out every pause. Two more settings on both providers, at the same time: 200 ms and 800 ms.
#
# It costs **tokens** too: the server keeps the audio up to its decision, silence included,
# and bills it as input audio.

# %%
SILENCES = [200, SILENCE, 800]
with lab.timed("200 ms and 800 ms on each provider"):
    more = await asyncio.gather(
        *(spoken_turn(p, silence_ms=s) for p in lab.PROVIDERS for s in (200, 800))
    )
by_silence = {p: {SILENCE: base[p]} for p in lab.PROVIDERS}
for (p, s), m in zip([(p, s) for p in lab.PROVIDERS for s in (200, 800)], more):
    by_silence[p][s] = m

rows = [
    [p, ms(s), ms(by_silence[p][s].perceived_ms), by_silence[p][s].usage.input_audio_tokens]
    for p in lab.PROVIDERS
    for s in SILENCES
]
lab.table(rows, ["provider", "silence_duration_ms", "perceived", "input audio tokens"])

# %%
TOKENS_PER_S = {  # audio tokens per second of audio: docs/emulator-usage.md, emulator-gemini.md
    "openai": {"in": 10, "out": 20},
    "gemini": {"in": 32, "out": 32},
}
for p in lab.PROVIDERS:
    runs = by_silence[p]
    # least squares through the three settings: ms of latency per ms of silence window. One
    # turn each, so a busy machine moves a point by up to ~100 ms: the check asks for "about
    # one" (0.6-1.4), which a VAD that ignored the setting (0) or doubled it (2) still fails.
    mean_s = sum(SILENCES) / 3
    mean_p = sum(runs[s].perceived_ms for s in SILENCES) / 3
    slope = sum((s - mean_s) * (runs[s].perceived_ms - mean_p) for s in SILENCES) / sum(
        (s - mean_s) ** 2 for s in SILENCES
    )
    lab.check(
        0.6 < slope < 1.4,
        f"{p}: every ms of silence window is a ms of perceived latency",
        f"{slope:.2f} ms per ms",
        emulator_only=True,
    )
    extra = runs[800].usage.input_audio_tokens - runs[200].usage.input_audio_tokens
    expected = 0.6 * TOKENS_PER_S[p]["in"]
    lab.check(
        abs(extra - expected) <= 1,
        f"{p}: 600 ms more silence is billed as {expected:.0f} more input audio tokens",
        f"measured {extra}",
        emulator_only=True,
    )

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
for p, color in zip(lab.PROVIDERS, ["#4c72b0", "#dd8452"]):
    runs = by_silence[p]
    left.plot(SILENCES, [runs[s].perceived_ms for s in SILENCES], "o-", color=color, label=p)
    right.plot(
        SILENCES, [runs[s].usage.input_audio_tokens for s in SILENCES], "o-", color=color, label=p
    )
left.axhline(300, color="#c44e52", ls="--", lw=1)
left.set_xlabel("silence_duration_ms")
left.set_ylabel("perceived latency (ms)")
left.set_ylim(0, None)
right.set_xlabel("silence_duration_ms")
right.set_ylabel("input audio tokens of the turn")
right.set_ylim(0, None)
left.legend(fontsize=8)
fig.suptitle("a longer silence window: later answers, more billed audio", fontsize=10)
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# ## The rest: model and network
#
# The other pieces are the provider's and the network's, so we *simulate* them: emulators of
# our own (`lab.extra_emulator`, always the emulator, whatever the switch above says), one as
# the lab's, one whose every server frame is **100 ms late** (`latency_ms=100`: a slow
# downlink), one whose model starts speaking after **100 ms** instead of 250
# (`first_audio_ms=100`). Expected: +100 ms and −150 ms.
#
# To see them without the VAD's wait in the way, these turns end by **push-to-talk**: VAD off
# (`Vad(mode="manual")`), and `session.commit()` where the speech ends, as a user letting go of
# a button. `ttfb_ms` then runs from the commit to the first audio byte: everything after the
# decision. (OpenAI also needs `create_response()` after a commit; Gemini answers
# `activityEnd` by itself.) Each setting runs three times; the quickest run counts, since the
# simulated delays are floors that the emulator's own work and a busy machine only add to.

# %%
SIMULATED = {
    "as the lab's": lab.extra_emulator(),
    "network +100 ms": lab.extra_emulator(latency_ms=100),
    "model 100 ms": lab.extra_emulator(openai_first_audio_ms=100, gemini_first_audio_ms=100),
}
cases = [(p, name) for p in lab.PROVIDERS for name in SIMULATED]
with lab.timed("three emulators, both providers, push-to-talk, three runs each"):
    done = await asyncio.gather(*(best_of(3, p, SIMULATED[name]) for p, name in cases))
sim = {case: best for case, (best, _) in zip(cases, done)}
rows = [
    [p, name, ms(sim[p, name].ttfb_ms), ", ".join(map(ms, runs))]
    for (p, name), (_, runs) in zip(cases, done)
]
lab.table(rows, ["provider", "emulator", "commit to first audio, best", "all runs"])

# %%
for p in lab.PROVIDERS:
    ref = sim[p, "as the lab's"].ttfb_ms
    network = sim[p, "network +100 ms"].ttfb_ms - ref
    model = sim[p, "model 100 ms"].ttfb_ms - ref
    lab.check(
        sim[p, "as the lab's"].speech_end_source == "commit" and 245 <= ref < 320,
        f"{p}: from the commit, the first audio takes the model's 250 ms",
        f"{ref:.0f} ms",
    )
    lab.check(
        abs(network - 100) < 50, f"{p}: a 100 ms slower downlink adds ~100 ms", f"{network:+.0f} ms"
    )
    lab.check(
        abs(model + 150) < 50, f"{p}: a model 150 ms quicker saves ~150 ms", f"{model:+.0f} ms"
    )

# %% [markdown]
# ## Audio tokens and cost per minute
#
# Both providers bill audio by the token, at different rates per second of audio and at
# different prices per token:
#
# | | user audio | model audio | source |
# |---|---|---|---|
# | OpenAI | **10 tokens/s** | **20 tokens/s** | the Realtime launch pricing ($/min vs $/1M tokens); `docs/emulator-usage.md` |
# | Gemini | **32 tokens/s** | **32 tokens/s** | "each second of audio as 32 tokens" (ai.google.dev); `docs/emulator-gemini.md` |
#
# The turns above carry the provider's `usage`; the emulator counts the way the docs say:

# %%
for p, m in base.items():
    u, heard_s = m.usage, m.audio_out_ms / 1000
    print(
        f"{p}: {m.audio_out_ms:.0f} ms of answer -> {u.output_audio_tokens} output audio tokens; "
        f"the turn's input audio -> {u.input_audio_tokens} tokens  (model {m.model})"
    )
    lab.check(
        u.output_audio_tokens == math.ceil(heard_s * TOKENS_PER_S[p]["out"]),
        f"{p}: the answer's audio is billed at {TOKENS_PER_S[p]['out']} tokens per second",
        emulator_only=True,
    )

# %% [markdown]
# A minute of audio, priced with the default model of each provider in `data/prices.json` (an
# *editable, dated example*: check the pricing pages before trusting it). At those prices a
# minute of the user talking costs **$0.0192** on `gpt-realtime` and **$0.0058** on Gemini 2.5
# native audio; a minute of the model talking **$0.0768** and **$0.0230**: model audio is the
# expensive half on both, and OpenAI is about 3.3× Gemini per minute of it.

# %%
per_minute = {}
rows = []
for p in lab.PROVIDERS:
    model, price = price_for(p)
    tin, tout = 60 * TOKENS_PER_S[p]["in"], 60 * TOKENS_PER_S[p]["out"]
    listen = cost(Usage(input_tokens=tin, input_audio_tokens=tin), p, model)
    speak = cost(Usage(output_tokens=tout, output_audio_tokens=tout), p, model)
    lab.check(
        math.isclose(listen, tin * price.audio_in / 1e6)
        and math.isclose(speak, tout * price.audio_out / 1e6),
        f"{p}: cost() is tokens x price per million",
    )
    per_minute[p] = (listen, speak)
    rows.append([p, model, tin, f"${listen:.4f}", tout, f"${speak:.4f}"])
lab.table(
    rows,
    [
        "provider",
        "model",
        "tokens/min in",
        "user talks 1 min",
        "tokens/min out",
        "model talks 1 min",
    ],
)

# %%
stated = {"openai": (0.0192, 0.0768), "gemini": (0.0058, 0.0230)}
for p, (listen, speak) in per_minute.items():
    lab.check(
        math.isclose(listen, stated[p][0], abs_tol=5e-5)
        and math.isclose(speak, stated[p][1], abs_tol=5e-5),
        f"{p}: ${stated[p][0]} a minute listening, ${stated[p][1]} a minute speaking",
    )
ratio = per_minute["openai"][1] / per_minute["gemini"][1]
lab.check(
    abs(ratio - 3.3) < 0.1, "OpenAI's model audio is ~3.3x Gemini's per minute", f"{ratio:.2f}x"
)

# %% [markdown]
# Two things make a real bill bigger than minutes × these rates: **every response re-reads the
# conversation** (earlier turns, the model's own earlier audio included, are input tokens again
# for each new reply: `docs/emulator-usage.md`), and text (instructions, tool definitions,
# transcripts) is billed on top. Notebook 06 prices whole sessions.
#
# ## The arithmetic of a sub-300 ms reply
#
# Perceived latency is a sum:
#
# > **end-of-turn decision + uplink + model first audio + downlink + player buffer**
#
# With a silence-based VAD the first term alone is the silence window, so no setting of it gets
# under 300 ms with a model at 250 ms. The budget closes only when the client knows the turn is
# over: **push-to-talk** (the user lets go of the button: decision 0 ms), or a client-side
# end-of-turn detector that decides early. Three budgets, with a 20 ms network leg each way and
# a 40 ms player buffer (a browser's output latency alone is about that: `docs/talk.md`):

# %%
BUDGETS = {
    "server VAD 500 ms, model 250 ms": {"decision": 500, "model": 250},
    "server VAD 200 ms, model 250 ms": {"decision": 200, "model": 250},
    "push-to-talk, model 150 ms": {"decision": 0, "model": 150},
}
NETWORK, PLAYER = 20, 40  # ms: one network leg, the player's buffer
parts = ["decision", "uplink", "model", "downlink", "player"]
for budget in BUDGETS.values():
    budget.update(uplink=NETWORK, downlink=NETWORK, player=PLAYER)
totals = {name: sum(b[k] for k in parts) for name, b in BUDGETS.items()}
rows = [[name, *(ms(b[k]) for k in parts), ms(totals[name])] for name, b in BUDGETS.items()]
display(lab.table(rows, ["budget", *parts, "total"]))
under = [name for name, total in totals.items() if total < 300]
lab.check(
    under == ["push-to-talk, model 150 ms"] and totals[under[0]] == 230,
    "only push-to-talk with a 150 ms model fits: 230 ms",
)

# %% [markdown]
# Only the last one is under 300 ms: 0 + 20 + 150 + 20 + 40 = **230 ms**. Now run it: an emulator
# whose model starts after 150 ms and whose frames reach us 20 ms late, the turn ended by
# push-to-talk as above. What the emulator does not simulate (the uplink leg and the player's
# buffer) is added from the budget.

# %%
PTT = lab.extra_emulator(openai_first_audio_ms=150, gemini_first_audio_ms=150, latency_ms=NETWORK)
with lab.timed("push-to-talk on each provider"):
    done = await asyncio.gather(*(best_of(3, p, PTT) for p in lab.PROVIDERS))
ptt = {p: best for p, (best, _) in zip(lab.PROVIDERS, done)}
plan = BUDGETS["push-to-talk, model 150 ms"]
for p, m in ptt.items():
    emulated = m.ttfb_ms  # from the commit (the button) to the first audio byte
    total = emulated + plan["uplink"] + plan["player"]
    lab.check(
        plan["model"] + plan["downlink"] - 5 <= emulated < plan["model"] + plan["downlink"] + 70,
        f"{p}: commit to first audio is the model plus the downlink",
        f"{emulated:.0f} ms for {plan['model']} + {plan['downlink']}",
    )
    lab.check(
        total < 300,
        f"{p}: perceived with uplink and player added stays under 300 ms",
        f"{total:.0f} ms",
    )

# %%
fig, ax = plt.subplots(figsize=(10, 3.2))
colors = dict(zip(parts, ["#bbbbbb", "#8fb3d9", "#dd8452", "#4c72b0", "#55a868"]))
for y, b in enumerate(BUDGETS.values()):
    left = 0
    for k in parts:
        ax.barh(y, b[k], left=left, color=colors[k], height=0.55, label=k if y == 0 else None)
        left += b[k]
    ax.text(left + 10, y, f"{left} ms", va="center", fontsize=8)
for i, (p, marker) in enumerate(zip(lab.PROVIDERS, ["o", "s"])):
    measured = ptt[p].ttfb_ms + plan["uplink"] + plan["player"]
    y = len(BUDGETS) - 1 + 0.42 + 0.16 * i  # just under the push-to-talk bar
    ax.scatter(
        [measured], [y], marker=marker, color="black", s=18, zorder=3, label=f"{p}: measured"
    )
ax.axvline(300, color="#c44e52", ls="--", lw=1)
ax.set_yticks(range(len(BUDGETS)), list(BUDGETS))
ax.set_ylim(len(BUDGETS) + 0.1, -0.5)
ax.set_xlabel("perceived latency budget (ms)")
ax.legend(fontsize=7, ncol=7, loc="upper center", bbox_to_anchor=(0.45, 1.25), frameon=False)
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# ## Takeaways
#
# - **The silence window is the biggest piece** you control: every ms of `silence_duration_ms`
#   is a ms of waiting, and its audio is billed as input tokens. Tune it against notebook 03's
#   split turns, not in isolation.
# - **Wire ≠ perceived.** TTFB from the server's end-of-speech event hides the silence window;
#   TTLB hides the playback (audio arrives 3–4× faster than it plays). Compare providers by
#   `perceived_ms`, which starts where the speech ended.
# - **Audio tokens are per second**: OpenAI 10/s in and 20/s out, Gemini 32/s both ways; with
#   the example prices a minute of model audio is $0.077 vs $0.023.
# - **Sub-300 ms** needs the end of the turn known at once (push-to-talk or an early client
#   decision), a model that starts within ~150 ms and a short network; a 500 ms silence window
#   has spent the budget before the model starts.
# - The emulator's milliseconds are its configuration (`docs/emulator-timing.md`), not a
#   provider's. With keys set (see the top), the VAD sections measure the real services: the
#   same code, their own numbers; the simulated sections stay on the emulator.
