# %% [markdown]
# # 03 · Tuning voice activity detection (VAD)
#
# A realtime voice API decides **when you stopped talking** — that is when the model answers.
# Both providers do it on the server, with different knobs:
#
# | | OpenAI Realtime `server_vad` | Gemini Live `automaticActivityDetection` |
# |---|---|---|
# | how loud counts as speech | `threshold` 0..1 (higher = needs louder speech) | `startOfSpeechSensitivity` HIGH / LOW |
# | audio kept before the onset | `prefix_padding_ms` (300) | `prefixPaddingMs` |
# | silence that ends the turn | `silence_duration_ms` (200–500) | `endOfSpeechSensitivity` HIGH / LOW, `silenceDurationMs` |
# | no speech for a while | `idle_timeout_ms` | — |
#
# The emulator runs `realtimelab.vad` — a small, explainable energy detector — with exactly these
# parameters. Below you tune it over a recording with pauses of 150 ms to 1.5 s between
# its eight utterances, and watch turns **merge** or **split**.

# %%
# %matplotlib inline
import json

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from realtimelab import lab
from realtimelab.audio import read_wav
from realtimelab.vad import (
    Segment,
    VadParams,
    detect_events,
    detect_segments,
    frame_levels,
    noise_floor,
    segment_scores,
    speech_probability,
)

lab.banner()
pcm, fmt = read_wav(lab.DATA / "speech" / "conversation_16k.wav")
meta = json.loads((lab.DATA / "speech" / "conversation.json").read_text())
truth = [Segment(int(s["start_ms"]), int(s["end_ms"])) for s in meta["segments"]]
print(f"{fmt.duration_ms(len(pcm)) / 1000:.1f} s at {fmt.rate} Hz, {len(truth)} utterances")
for s in meta["segments"]:
    print(f"  {s['start_ms']:>7.0f} – {s['end_ms']:>7.0f} ms  {s['text']}")

# %%
lab.play(pcm, fmt.rate)

# %% [markdown]
# ## How the detector decides
#
# Each 20 ms frame gets a loudness in dBFS. The **noise floor** is the quietest frame of the last
# 3 s. A frame's **speech probability** rises (logistically) with how far it is above both a
# reference level and the noise floor. A frame is speech when the probability exceeds the
# threshold; a turn starts after `min_speech_ms` of speech and ends after `silence_duration_ms`
# of non-speech.

# %%
levels = frame_levels(pcm, fmt.rate)
floor = noise_floor(levels)
prob = speech_probability(levels)
t = np.arange(len(levels)) * 0.02
fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True)
a1.plot(t, levels, lw=0.8, label="frame level (dBFS)")
a1.plot(t, floor, lw=1.2, label="noise floor")
a1.set_ylim(-105, 0)
a1.legend(loc="lower right", fontsize=8)
a1.set_ylabel("dBFS")
a2.plot(t, prob, lw=0.8, color="#4c72b0")
a2.axhline(0.5, ls="--", color="#c44e52", lw=1)
for s in truth:
    a2.axvspan(s.start_ms / 1000, s.end_ms / 1000, color="#55a868", alpha=0.2)
a2.set_ylabel("P(speech)")
a2.set_xlabel("seconds")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Move the sliders
#
# Orange bands are what the detector finds; green bars are what was actually spoken. Try:
#
# * `silence_duration_ms` **above 800** — the short pauses disappear and utterances merge;
# * `silence_duration_ms` **at 100** — turns split *inside* utterances, between words (12 turns
#   for 8 utterances): an impatient assistant that answers mid-sentence. 150 ms happens to
#   match this recording's shortest pause exactly, which is why it scores best *here*;
# * `threshold` **at 0.9** — quiet word endings are lost and turns get shorter.
#
# "start from" loads Gemini's sensitivity presets, mapped onto the same parameters.

# %% tags=["nbval-ignore-output"]
import itertools

from realtimelab.widgets import VadExplorer

explorer = VadExplorer(pcm, fmt.rate, truth, title="conversation_16k.wav")
display(explorer.widget())

# %% [markdown]
# The same experiment without sliders: how many turns does each silence setting produce? The
# pauses in the recording range from 150 ms to 1.5 s, so the count steps down each time the
# silence duration passes one of them.

# %%
silences = list(range(100, 2001, 50))
counts = [len(detect_segments(pcm, fmt.rate, VadParams(silence_duration_ms=s))) for s in silences]
fig, ax = plt.subplots(figsize=(8, 3))
ax.step(silences, counts, where="post")
ax.axhline(len(truth), ls=":", color="gray", label="utterances spoken")
ax.set_xlabel("silence_duration_ms")
ax.set_ylabel("turns detected")
ax.legend()
fig.tight_layout()
plt.show()
scores = {}
for s in (100, 150, 500, 1000):
    scores[s] = segment_scores(
        detect_segments(pcm, fmt.rate, VadParams(silence_duration_ms=s)), truth
    )
    print(f"silence {s:>4}: {scores[s].detected_count} turns, accuracy {scores[s].accuracy:.1%}")
lab.check(
    all(a >= b for a, b in itertools.pairwise(counts)), "a longer silence never makes more turns"
)
lab.check(scores[100].detected_count > len(truth), "at 100 ms utterances split between words")
lab.check(
    scores[150].detected_count == len(truth),
    "at 150 ms (the shortest pause) turns match utterances",
)
lab.check(scores[1000].detected_count < len(truth), "at 1000 ms utterances merge")

# %% [markdown]
# ## The wire view: what the server would send
#
# `detect_events` gives the positions an OpenAI server reports: `speech_started.audio_start_ms`
# **includes** the prefix padding, and `speech_stopped.audio_end_ms` **includes** the silence
# duration — it is the point at which the server decided. That decision delay is the first part
# of every response's latency.

# %%
wire = detect_events(pcm, fmt.rate, VadParams(silence_duration_ms=500, prefix_padding_ms=300))
for e in wire[:6]:
    print(e)
first = detect_segments(pcm, fmt.rate, VadParams(silence_duration_ms=500))[0]
started, stopped = wire[0], wire[1]
lab.check(
    started.audio_start_ms == max(0, first.start_ms - 300),
    "speech_started includes the 300 ms prefix padding",
)
lab.check(
    stopped.audio_end_ms == first.end_ms + 500,
    "speech_stopped includes the 500 ms of silence that decided it",
)

# %% [markdown]
# ## The same settings on the wire, for both providers
#
# Now send the recording to the emulator with the slider's current settings and watch the turn
# events they cause. On OpenAI you get `speech_started` / `speech_stopped` with stream positions
# (and, because the model starts answering after each stop, a barge-in `Interrupted` whenever the
# next utterance begins while its answer is still playing). Gemini sends **no** speech events:
# you see its decisions only through its answers — a capability difference, listed in
# `session.capabilities`. (The emulator's ears know the phrases of the other notebooks, not the
# sentences of this recording, so its answers here are "Sorry, I didn't catch that": honest,
# for audio.)
#
# The audio is streamed 4× faster than real time: the server's VAD counts positions in the
# stream, not wall-clock time, so the decisions are the same.
#
# Gemini has no raw `threshold` (only HIGH / LOW sensitivities), so its codec sends the padding and
# silence but not the threshold, and says so with an `UnsupportedSetting` warning naming the
# field: a setting a provider cannot honour is reported, never silently dropped.

# %%
import asyncio
import warnings

from realtimelab import SessionConfig, connect
from realtimelab import events as ev
from realtimelab.audio import iter_frames
from realtimelab.config import Vad
from realtimelab.errors import UnsupportedSetting

p = explorer.params
config = SessionConfig(
    instructions="Be brief.",
    vad=Vad(
        threshold=p.threshold,
        prefix_padding_ms=p.prefix_padding_ms,
        silence_duration_ms=p.silence_duration_ms,
    ),
)
SHOWN = (ev.SpeechStarted, ev.SpeechStopped, ev.ResponseStarted, ev.Interrupted, ev.TurnComplete)


async def turn_events(provider):
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnsupportedSetting)
        async with connect(provider, config, **lab.connect_kwargs(provider)) as session:
            t0 = session.now()

            async def stream():
                for frame in iter_frames(pcm, fmt.rate, 20):
                    await session.send_audio(frame, fmt.rate)
                    await asyncio.sleep(0.005)  # 4x real time
                await session.send_audio(bytes(fmt.nbytes(1500)), fmt.rate)  # trailing silence

            sender = asyncio.create_task(stream())
            async with asyncio.timeout(20):
                async for e in session:
                    if isinstance(e, SHOWN):
                        rows.append((e.t - t0, e.kind, getattr(e, "audio_ms", None) or ""))
                    if sender.done() and isinstance(e, ev.GenerationComplete):
                        break
            await sender
    notes = [str(w.message) for w in caught if issubclass(w.category, UnsupportedSetting)]
    return session.capabilities, rows, notes


with lab.timed("the recording through both providers"):
    done = await asyncio.gather(*map(turn_events, lab.PROVIDERS))
results = {provider: rows for provider, (_, rows, _) in zip(lab.PROVIDERS, done)}
for provider, (caps, _, notes) in zip(lab.PROVIDERS, done):
    print(f"{provider}: speech_started_events={caps.speech_started_events}")
    for note in notes:
        print(f"  UnsupportedSetting: {note}")

# %% tags=["nbval-ignore-output"]
for provider, rows in results.items():
    print(f"--- {provider}")
    for t, kind, detail in rows:
        print(f"  {t:6.2f} s  {kind:16} {detail}")

# %%
params = VadParams(
    threshold=p.threshold,
    prefix_padding_ms=p.prefix_padding_ms,
    silence_duration_ms=p.silence_duration_ms,
)
offline = len(detect_segments(pcm, fmt.rate, params))
started = {
    provider: sum(kind == "SpeechStarted" for _, kind, _ in rows)
    for provider, rows in results.items()
}
lab.check(
    started["openai"] == offline,
    "OpenAI reports one speech_started per turn the detector finds offline",
    f"{offline} turns",
    emulator_only=True,
)
lab.check(started["gemini"] == 0, "Gemini reports none: its decisions show only as answers")
lab.check(bool(done[1][2]), "Gemini's codec warned that it cannot honour the raw threshold")

# %%
fig, ax = plt.subplots(figsize=(11, 2.6))
colors = {
    "SpeechStarted": "#55a868",
    "SpeechStopped": "#c44e52",
    "InputTranscript": "#4c72b0",
    "ResponseStarted": "#8172b3",
    "Interrupted": "#dd8452",
    "TurnComplete": "#333333",
}
for y, provider in enumerate(lab.PROVIDERS):
    for t, kind, _ in results[provider]:
        if t is not None:
            ax.scatter(t, y, color=colors.get(kind, "gray"), s=40, label=kind)
handles = {h.get_label(): h for h in ax.collections}
ax.legend(
    handles.values(),
    handles.keys(),
    fontsize=7,
    ncol=6,
    loc="upper center",
    bbox_to_anchor=(0.5, 1.35),
)
ax.set_yticks(range(len(lab.PROVIDERS)), lab.PROVIDERS)
ax.set_ylim(-0.5, 1.5)
ax.set_xlabel("seconds since connect (audio streamed at 4x)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Your microphone
#
# With a sound card (and `libportaudio2`) the same explorer works on your own voice: set
# `RECORD = True`, run the cell, talk for five seconds, and tune on your own pauses.

# %%
RECORD = False  # set True to record five seconds from your microphone

if RECORD:
    from realtimelab.devices import Microphone, device_status

    status = device_status("input")
    if not status.available:
        print(f"no microphone here: {status.reason}")
    else:
        captured = bytearray()
        async with Microphone(rate=16000) as mic:
            async for chunk in mic:
                captured += chunk
                if len(captured) >= 16000 * 2 * 5:  # five seconds
                    break
        display(VadExplorer(bytes(captured), 16000, title="your microphone").widget())
else:
    print("RECORD is False: nothing recorded")
