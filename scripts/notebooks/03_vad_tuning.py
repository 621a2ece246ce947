"""Cells of notebooks/03_vad_tuning.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 03 · Tuning voice activity detection (VAD)

A realtime voice API decides **when you stopped talking** — that is when the model answers.
Both providers do it on the server, with different knobs:

| | OpenAI Realtime `server_vad` | Gemini Live `automaticActivityDetection` |
|---|---|---|
| how loud counts as speech | `threshold` 0..1 (higher = needs louder speech) | `startOfSpeechSensitivity` HIGH / LOW |
| audio kept before the onset | `prefix_padding_ms` (300) | `prefixPaddingMs` |
| silence that ends the turn | `silence_duration_ms` (200–500) | `endOfSpeechSensitivity` HIGH / LOW, `silenceDurationMs` |
| no speech for a while | `idle_timeout_ms` | — |

The emulator runs `realtimelab.vad` — a small, explainable energy detector — with exactly these
parameters. Below you tune it over a recording with pauses of 150 ms to 1.5 s between
its eight utterances, and watch turns **merge** or **split**.
"""),
("code", r"""
%matplotlib inline
import json
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display
from realtimelab import lab
from realtimelab.audio import read_wav
from realtimelab.vad import (VadParams, Segment, detect_segments, detect_events, frame_levels,
                             noise_floor, speech_probability, segment_scores)

lab.banner()
pcm, fmt = read_wav(lab.DATA / "speech" / "conversation_16k.wav")
meta = json.loads((lab.DATA / "speech" / "conversation.json").read_text())
truth = [Segment(int(s["start_ms"]), int(s["end_ms"])) for s in meta["segments"]]
print(f"{fmt.duration_ms(len(pcm)) / 1000:.1f} s at {fmt.rate} Hz, {len(truth)} utterances")
for s in meta["segments"]:
    print(f'  {s["start_ms"]:>7.0f} – {s["end_ms"]:>7.0f} ms  {s["text"]}')
"""),
("md", r"""
> **Emulator or real provider — the switch.** Sessions here are opened with
> `connect(provider, config, **lab.connect_kwargs(provider))`: the local emulator while no key is
> set, the real service once `OPENAI_API_KEY` / `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) is in the
> environment that started Jupyter (then restart the kernel). The banner above says which one
> each provider uses — it names the variable, never the key. Real sessions cost money and real
> models answer freely, so transcripts will differ; frames and events keep their shapes.
"""),
("code", r"""
lab.play(pcm, fmt.rate)
"""),
("md", r"""
## How the detector decides

Each 20 ms frame gets a loudness in dBFS. The **noise floor** is the quietest frame of the last
3 s. A frame's **speech probability** rises (logistically) with how far it is above both a
reference level and the noise floor. A frame is speech when the probability exceeds the
threshold; a turn starts after `min_speech_ms` of speech and ends after `silence_duration_ms`
of non-speech.
"""),
("code", r"""
levels = frame_levels(pcm, fmt.rate)
floor = noise_floor(levels)
prob = speech_probability(levels)
t = np.arange(len(levels)) * 0.02
fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True)
a1.plot(t, levels, lw=0.8, label="frame level (dBFS)")
a1.plot(t, floor, lw=1.2, label="noise floor")
a1.set_ylim(-90, 0); a1.legend(loc="lower right", fontsize=8); a1.set_ylabel("dBFS")
a2.plot(t, prob, lw=0.8, color="#4c72b0"); a2.axhline(0.5, ls="--", color="#c44e52", lw=1)
for s in truth:
    a2.axvspan(s.start_ms / 1000, s.end_ms / 1000, color="#55a868", alpha=0.2)
a2.set_ylabel("P(speech)"); a2.set_xlabel("seconds")
fig.tight_layout(); plt.show()
"""),
("md", r"""
## Move the sliders

Orange bands are what the detector finds; green bars are what was actually spoken. Try:

* `silence_duration_ms` **above 800** — the short pauses disappear and utterances merge;
* `silence_duration_ms` **at 150** — every pause splits a turn (an impatient assistant);
* `threshold` **at 0.9** — quiet word endings are lost and turns get shorter.

"start from" loads Gemini's sensitivity presets, mapped onto the same parameters.
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
from realtimelab.widgets import VadExplorer

explorer = VadExplorer(pcm, fmt.rate, truth, title="conversation_16k.wav")
display(explorer.widget())
"""),
("md", r"""
The same experiment without sliders: how many turns does each silence setting produce? The
pauses in the recording range from 150 ms to 1.5 s, so the count steps down each time the
silence duration passes one of them.
"""),
("code", r"""
silences = list(range(100, 2001, 50))
counts = [len(detect_segments(pcm, fmt.rate, VadParams(silence_duration_ms=s))) for s in silences]
fig, ax = plt.subplots(figsize=(8, 3))
ax.step(silences, counts, where="post")
ax.axhline(len(truth), ls=":", color="gray", label="utterances spoken")
ax.set_xlabel("silence_duration_ms"); ax.set_ylabel("turns detected"); ax.legend()
fig.tight_layout(); plt.show()
for s in (150, 500, 1000):
    score = segment_scores(detect_segments(pcm, fmt.rate, VadParams(silence_duration_ms=s)), truth)
    print(f"silence {s:>4} ms: {score.detected_count} turns, accuracy {score.accuracy:.1%}")
"""),
("md", r"""
## The wire view: what the server would send

`detect_events` gives the positions an OpenAI server reports: `speech_started.audio_start_ms`
**includes** the prefix padding, and `speech_stopped.audio_end_ms` **includes** the silence
duration — it is the point at which the server decided. That decision delay is the first part
of every response's latency.
"""),
("code", r"""
for ev in detect_events(pcm, fmt.rate, VadParams(silence_duration_ms=500))[:6]:
    print(ev)
"""),
("md", r"""
## The same settings on the wire, for both providers

Now send the recording to the emulator with the slider's current settings and watch the turn
events they cause. On OpenAI you get `speech_started` / `speech_stopped` with stream positions
(and, because the model starts answering after each stop, a barge-in `Interrupted` whenever the
next utterance begins while it is still talking). Gemini sends **no** speech events: you see
its decisions only through input transcripts, `interrupted` and `turnComplete` — a capability
difference, listed in `session.capabilities`.

The audio is streamed 4× faster than real time: the server's VAD counts positions in the
stream, not wall-clock time, so the decisions are the same.

Gemini has no raw `threshold` (only HIGH / LOW sensitivities), so its codec sends the padding and
silence but not the threshold, and says so with an `UnsupportedSetting` warning naming the
field: a setting a provider cannot honour is reported, never silently dropped.
"""),
("code", r"""
import asyncio
from realtimelab import connect, SessionConfig, events as ev
from realtimelab.config import Vad
from realtimelab.audio import iter_frames

p = explorer.params
config = SessionConfig(
    instructions="Be brief.", input_transcription=True,
    vad=Vad(threshold=p.threshold, prefix_padding_ms=p.prefix_padding_ms,
            silence_duration_ms=p.silence_duration_ms),
)
SHOWN = (ev.SpeechStarted, ev.SpeechStopped, ev.InputTranscript, ev.ResponseStarted,
         ev.Interrupted, ev.TurnComplete)

async def turn_events(provider):
    rows = []
    async with connect(provider, config, **lab.connect_kwargs(provider)) as session:
        t0 = session.now()
        async def stream():
            for frame in iter_frames(pcm, fmt.rate, 20):
                await session.send_audio(frame, fmt.rate)
                await asyncio.sleep(0.005)          # 4x real time
            await session.send_audio(bytes(fmt.nbytes(1500)), fmt.rate)  # trailing silence
        sender = asyncio.create_task(stream())
        try:
            async with asyncio.timeout(25):
                async for e in session:
                    if isinstance(e, SHOWN) and not (isinstance(e, ev.InputTranscript) and not e.final):
                        detail = getattr(e, "audio_ms", None) or getattr(e, "text", "") or getattr(e, "status", "")
                        rows.append((e.t - t0, e.kind, detail))
                    if sender.done() and isinstance(e, ev.TurnComplete) and e.status == "completed":
                        break
        except TimeoutError:
            rows.append((None, "timeout", "no final turn within 25 s"))
        await sender
    return session.capabilities, rows

results = {}
for provider in lab.PROVIDERS:
    caps, rows = await turn_events(provider)
    results[provider] = rows
    print(f"--- {provider}: server VAD events reported: {caps.server_vad}, speech positions: "
          f"{'yes' if any(k == 'SpeechStarted' for _, k, _ in rows) else 'no'}")
    for t, kind, detail in rows:
        print(f"  {t:6.2f} s  {kind:16} {detail}" if t is not None else f"  {kind} {detail}")
"""),
("code", r"""
fig, ax = plt.subplots(figsize=(11, 2.6))
colors = {"SpeechStarted": "#55a868", "SpeechStopped": "#c44e52", "InputTranscript": "#4c72b0",
          "ResponseStarted": "#8172b3", "Interrupted": "#dd8452", "TurnComplete": "#333333"}
for y, provider in enumerate(lab.PROVIDERS):
    for t, kind, _ in results[provider]:
        if t is not None:
            ax.scatter(t, y, color=colors.get(kind, "gray"), s=40, label=kind)
handles = {h.get_label(): h for h in ax.collections}
ax.legend(handles.values(), handles.keys(), fontsize=7, ncol=6, loc="upper center",
          bbox_to_anchor=(0.5, 1.35))
ax.set_yticks(range(len(lab.PROVIDERS)), lab.PROVIDERS); ax.set_ylim(-0.5, 1.5)
ax.set_xlabel("seconds since connect (audio streamed at 4x)")
fig.tight_layout(); plt.show()
"""),
("md", r"""
## Your microphone

With a sound card (and `libportaudio2`) the same explorer works on your own voice: record a few
seconds and tune on it. On a machine without one (like CI) the cell says so and moves on.
"""),
("code", r"""
from realtimelab.devices import DeviceUnavailable, device_status

status = device_status("input")
if not status.available:
    print(f"no microphone here: {status.reason}")
else:
    from realtimelab.devices import Microphone
    captured = bytearray()
    async with Microphone(rate=16000) as mic:
        async for chunk in mic:
            captured += chunk
            if len(captured) >= 16000 * 2 * 5:      # five seconds
                break
    display(VadExplorer(bytes(captured), 16000, title="your microphone").widget())
"""),
]
