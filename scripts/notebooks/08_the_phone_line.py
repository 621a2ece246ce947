# %% [markdown]
# # 08 · The phone line
#
# A caller dials a number, a **SIP bridge** answers and connects the call to a realtime model.
# What the bridge hands you is not the 16 or 24 kHz PCM16 of the other notebooks: it is
# **G.711**, the digital telephone network's codec — 8 000 samples a second, **one byte each**
# (64 kbit/s), in one of two flavours:
#
# | | µ-law (`audio/pcmu`) | A-law (`audio/pcma`) |
# |---|---|---|
# | where | North America, Japan | everywhere else |
# | a byte is | sign + 3-bit segment + 4-bit step: fine steps for quiet sound, coarse for loud | the same idea, a linear first segment |
# | silence | `0xFF` (+0) | `0xD5` (+8 after decoding: A-law has no exact zero) |
#
# The two providers take it differently:
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | caller → model | `audio/pcmu` / `audio/pcma` **natively**: the bytes go on the wire untouched | PCM16 only: the session **decodes** and **resamples 8 → 16 kHz** |
# | model → caller | G.711 natively | 24 kHz PCM16, **resampled to 8 kHz and encoded** by the session |
# | flag | `capabilities.g711_native = True` | `False` |
#
# Your code is the same on both: `SessionConfig(input_format="pcmu", output_format="pcmu")`,
# `session.send_g711(bytes)` for the caller's audio, and `AudioChunk.g711` for the bytes to send
# back down the line (`realtimelab/wire_audio.py` does the bridging where the wire cannot).

# %%
# %matplotlib inline
import asyncio
import base64
import difflib
import json
from dataclasses import dataclass, field
from typing import Annotated, Literal

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from realtimelab import SessionConfig, connect, g711, lab
from realtimelab import events as ev
from realtimelab.audio import pcm16_to_float32, read_wav, resample
from realtimelab.observe import frame_type
from realtimelab.providers import make_codec
from realtimelab.schema import tool, wire_tool
from realtimelab.vad import Segment, VadParams, detect_segments

lab.banner()

# %% [markdown]
# ## G.711 in one cell
#
# `realtimelab.g711` is a numpy lookup table each way, **bit-exact** against the ITU-T G.711
# tables (µ-law as the ITU's own reference software G.191 encodes it). A few codes straight from
# the recommendation: zero, the smallest negative sample, full scale both ways. Then a sentence
# through the codec: resampled to 8 kHz, encoded (one byte a sample), decoded. What the
# quantisation costs is noise about 37 dB below the speech.

# %%
samples = np.array([0, -1, 32767, -32768], dtype=np.int16)
codes = {law: list(g711.encode(samples, law)) for law in ("pcmu", "pcma")}
for law, got in codes.items():
    print(f"{law}: {samples.tolist()} -> {[f'0x{c:02X}' for c in got]}")
lab.check(codes["pcmu"] == [0xFF, 0x7F, 0x80, 0x00], "µ-law codes match the G.711 tables")
lab.check(codes["pcma"] == [0xD5, 0x55, 0xAA, 0x2A], "A-law codes match the G.711 tables")

speech16k = lab.speech("weather_paris", 16000)
speech8k = resample(speech16k, 16000, 8000)
snr = {}
for law in ("pcmu", "pcma"):
    line = g711.encode(speech8k, law)
    back = np.frombuffer(g711.decode(line, law), "<i2").astype(np.float64)
    clean = np.frombuffer(speech8k, "<i2").astype(np.float64)
    snr[law] = 10 * np.log10((clean**2).sum() / ((clean - back) ** 2).sum())
    print(f"{law}: {len(speech16k)} bytes of 16 kHz PCM16 -> {len(line)} bytes on the line")
lab.check(
    len(g711.encode(speech8k, "pcmu")) * 4 == len(speech16k),
    "a phone line carries a quarter of the bytes of 16 kHz PCM16 (half the rate, one byte a sample)",
)
lab.check(
    all(snr[law] > 35 for law in snr),
    "the codec's own damage is small: noise more than 35 dB below the speech",
    ", ".join(f"{law} {v:.1f} dB" for law, v in snr.items()),
)

# %% [markdown]
# Listen: the same sentence as recorded (16 kHz), then as the caller's phone line carries it.

# %%
phone16k = g711.to_pcm16(g711.from_pcm16(speech16k, 16000, "pcmu"), "pcmu", 16000)
print("16 kHz, as recorded:")
display(lab.play(speech16k, 16000))
print("through a µ-law phone line (8 kHz):")
display(lab.play(phone16k, 16000))

# %% [markdown]
# ## What the phone line takes away: everything above 4 kHz
#
# The codec is not the problem; the **sample rate** is. At 8 kHz nothing above 4 kHz can exist
# (Nyquist), and that is where the hiss of *s*, *f* and *th* lives. Little of the energy, much
# of what tells *Paris* from *pair*. The spectrograms show it gone:

# %%
bands = {"16 kHz, as recorded": speech16k, "through the µ-law line": phone16k}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
high = {}
for ax, (title, pcm) in zip(axes, bands.items()):
    x = pcm16_to_float32(pcm)
    with np.errstate(divide="ignore"):  # the silent stretches: log10(0) is the darkest colour
        ax.specgram(x, NFFT=512, Fs=16000, noverlap=256, cmap="magma")
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    high[title] = float(power[freqs >= 4000].sum() / power.sum())
    ax.axhline(4000, color="white", ls="--", lw=1)
    ax.set_title(f"{title}: {high[title]:.1%} of the energy above 4 kHz", fontsize=10)
    ax.set_xlabel("seconds")
axes[0].set_ylabel("Hz")
fig.tight_layout()
lab.show_figure(fig)
before, after = high.values()
lab.check(
    before > 0.02 and after < 1e-4,
    "the phone line removes the band above 4 kHz, and only that",
    f"{before:.1%} -> {after:.4%} of the energy",
)

# %% [markdown]
# ### What that does to turn detection
#
# The server's VAD decides where your words end from the energy of the audio. Run the
# detector the emulator uses (`realtimelab.vad`, notebook 03) over the eight-utterance recording,
# at 16 kHz and through the phone line, with `silence_duration_ms=150` — the setting at which
# the 16 kHz recording splits exactly into its eight utterances. A third row sends the audio at
# 8 kHz as plain PCM16, without G.711: if it matches the phone line, the bandwidth is to blame,
# not the codec.

# %%
conversation, fmt = read_wav(lab.DATA / "speech" / "conversation_16k.wav")
meta = json.loads((lab.DATA / "speech" / "conversation.json").read_text())
truth = [Segment(int(s["start_ms"]), int(s["end_ms"])) for s in meta["segments"]]
versions = {
    "16 kHz": conversation,
    "µ-law line": g711.to_pcm16(g711.from_pcm16(conversation, 16000, "pcmu"), "pcmu", 16000),
    "A-law line": g711.to_pcm16(g711.from_pcm16(conversation, 16000, "pcma"), "pcma", 16000),
    "8 kHz PCM16": resample(resample(conversation, 16000, 8000), 8000, 16000),
}
params = VadParams(silence_duration_ms=150)
turns = {name: detect_segments(pcm, 16000, params) for name, pcm in versions.items()}
for name, found in turns.items():
    print(f"{name:12} {len(found):2} turns: {[(s.start_ms, s.end_ms) for s in found[:4]]} ...")

fig, ax = plt.subplots(figsize=(11, 2.6))
rows = [("spoken", truth), *turns.items()]
for y, (name, segments) in enumerate(rows):
    color = "#55a868" if name == "spoken" else "#dd8452"
    ax.broken_barh(
        [(s.start_ms / 1000, (s.end_ms - s.start_ms) / 1000) for s in segments],
        (y - 0.35, 0.7),
        color=color,
    )
ax.set_yticks(range(len(rows)), [f"{n} ({len(s)})" for n, s in rows])
ax.invert_yaxis()
ax.set_xlabel("seconds")
ax.set_title("turns found with silence_duration_ms=150 (green: what was spoken)", fontsize=10)
fig.tight_layout()
lab.show_figure(fig)

wide, line = turns["16 kHz"], turns["µ-law line"]
lab.check(len(wide) == len(truth), "at 16 kHz the detector finds the eight utterances")
lab.check(
    len(line) > len(wide),
    "through the phone line it finds more turns: utterances split inside",
    f"{len(wide)} -> {len(line)}",
)
lab.check(
    turns["A-law line"] == line == turns["8 kHz PCM16"],
    "µ-law, A-law and plain 8 kHz PCM16 give the same turns: the bandwidth, not the codec",
)
lab.check(
    line[1].end_ms < wide[1].end_ms,
    "'…weather in Paris' ends earlier on the line: its final 's' is above 4 kHz",
    f"{wide[1].end_ms} -> {line[1].end_ms} ms",
)

# %% [markdown]
# A split turn is a model answering half a question. On a phone line, give the VAD more
# silence than you would at 16 kHz (or use OpenAI's `semantic_vad`), and test with phone audio.
#
# ## A call, on both providers
#
# The SIP bridge's side of a session: telephone formats in **and** out, the caller's audio
# forwarded as it comes (160 bytes = 20 ms of G.711 per packet, the usual RTP packet), and the
# model's answer taken from `AudioChunk.g711`. First, what each provider is told when the
# session opens (the codecs are sans-IO: no socket needed to look):

# %%
PHONE = {law: SessionConfig(input_format=law, output_format=law) for law in ("pcmu", "pcma")}
setup = {p: make_codec(p).initial_frames(PHONE["pcmu"])[0] for p in lab.PROVIDERS}
print("openai session.update audio:", json.dumps(setup["openai"]["session"]["audio"]))
print("gemini setup:", json.dumps(setup["gemini"]["setup"]))
caps = {p: make_codec(p).capabilities for p in lab.PROVIDERS}
lab.check(
    setup["openai"]["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    and setup["openai"]["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"},
    "OpenAI is asked for audio/pcmu both ways",
)
lab.check(
    "pcmu" not in json.dumps(setup["gemini"]) and not caps["gemini"].g711_native,
    "Gemini is told nothing about G.711: it only ever sees PCM16 (g711_native is False)",
)

# %% [markdown]
# Now the call: the caller asks about the weather, the model calls a tool and answers. Four
# sessions at once — each provider with µ-law and with A-law. A frame tap records what
# travels on each wire.


# %%
def get_weather(city: str) -> dict:
    "Get the current weather in a city."
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


SILENCE = {"pcmu": 0xFF, "pcma": 0xD5}  # the codes of digital silence


@dataclass
class Call:
    provider: str
    law: str
    caller: bytes = b""  # the G.711 bytes the bridge forwarded
    frames: list = field(default_factory=list)  # (direction, frame)
    events: list = field(default_factory=list)
    answered: bool = False  # False: no complete answer within the time limit

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def heard(self):
        finals = [e.text for e in self.of(ev.InputTranscript) if e.final]
        return finals[-1] if finals else "".join(e.text for e in self.of(ev.InputTranscript))


async def phone_call(provider, law, live=False):
    config = PHONE[law].replace(
        instructions="You answer the phone for a weather line. Be brief.",
        tools=[get_weather],
        input_transcription=True,
    )
    call = Call(provider, law)
    # what the bridge receives from the caller: speech, then 800 ms of line silence
    call.caller = g711.from_pcm16(speech16k, 16000, law) + bytes([SILENCE[law]]) * 6400
    kwargs = lab.connect_kwargs(provider)
    async with connect(
        provider,
        config,
        frame_tap=lambda d, f, t: call.frames.append((d, f)),
        player=lab.speaker(provider) if live else None,  # the 8 kHz answer, as the caller hears it
        **kwargs,
    ) as session:
        for i in range(0, len(call.caller), 160):  # 20 ms packets, as they arrive
            await session.send_g711(call.caller[i : i + 160])
        try:
            async with asyncio.timeout(20):
                async for e in session:
                    call.events.append(e)
                    if isinstance(e, ev.ToolCall):
                        await session.send_tool_response(e.call_id, get_weather(**e.arguments))
                    elif isinstance(e, ev.TurnComplete) and e.reason != "tool_calls":
                        call.answered = True
                        break
        except TimeoutError:
            pass  # the checks below say what is missing
    return call


speakers = lab.live_players()  # the µ-law calls play live here, at the phone's 8 kHz
with lab.timed("four calls"):
    calls = await asyncio.gather(
        *(phone_call(p, law, live=law == "pcmu") for p in lab.PROVIDERS for law in ("pcmu", "pcma"))
    )
for call in calls:
    said = " ".join(e.text for e in call.of(ev.OutputTranscript) if e.final)
    print(f"{call.provider:7} {call.law}: caller said {call.heard()!r}; model: {said!r}")
lab.check_played_live()  # where a browser page plays the speakers: it played the µ-law calls

# %% [markdown]
# ### On the wire
#
# What went up and came down, per call: the first audio frame each way, its format and how
# many bytes carry 20 ms of sound.


# %%
def b64(frame):
    "The base64 audio payload of a frame, decoded, with its format (or None)."
    kind = frame_type(frame)
    if kind == "input_audio_buffer.append":
        return base64.b64decode(frame["audio"]), None
    if kind == "response.output_audio.delta":
        return base64.b64decode(frame["delta"]), None
    blob = frame.get("realtimeInput", {}).get("audio")
    if isinstance(blob, dict):
        return base64.b64decode(blob["data"]), blob["mimeType"]
    for part in frame.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
        if "inlineData" in part:
            return base64.b64decode(part["inlineData"]["data"]), part["inlineData"]["mimeType"]
    return None


def audio_frames(call, direction):
    return [(f, a) for d, f in call.frames if d == direction and (a := b64(f))]


def up_ratio(call):
    "Bytes that went up per byte of the caller's G.711."
    return sum(len(a[0]) for _, a in audio_frames(call, "send")) / len(call.caller)


def typical_frame(call):
    "The most common size of an audio frame sent up, in bytes and in ms of sound."
    sizes = [len(a[0]) for _, a in audio_frames(call, "send")]
    size = max(set(sizes), key=sizes.count)
    per_ms = 8 if caps[call.provider].g711_native else 32  # G.711 8 kHz; PCM16 16 kHz
    return size, size / per_ms


def first_audio(call, direction):
    "The first audio frame's type and format (the format may be in session.update)."
    frames = audio_frames(call, direction)
    if not frames:
        return "(none)", "-"
    frame, (_, mime) = frames[0]
    return frame_type(frame), mime or f"audio/{call.law} (session.update)"


def wire_row(call):
    size, ms = typical_frame(call)
    chunks = call.of(ev.AudioChunk)
    return [
        f"{call.provider} {call.law}",
        *first_audio(call, "send"),
        f"{size} bytes = {ms:.2f} ms",
        f"{up_ratio(call):.2f}",
        *first_audio(call, "recv"),
        sorted({(c.rate, c.encoding) for c in chunks}),
    ]


header = [
    "call",
    "sent",
    "format",
    "typical frame",
    "bytes up / caller byte",
    "received",
    "format",
    "AudioChunk",
]
display(lab.table([wire_row(c) for c in calls], header))

# %% [markdown]
# Read the table as the bridge would:
#
# * **OpenAI** receives the caller's bytes **untouched**: one frame per 160-byte packet, the
#   format said once in `session.update`; its answer comes back as G.711 in
#   `response.output_audio.delta`, and `AudioChunk.g711` *is* those bytes.
# * **Gemini** receives **PCM16 at 16 kHz** (`audio/pcm;rate=16000`): four bytes for every byte
#   the caller sent (twice the samples, two bytes each). It answers in 24 kHz PCM16, which the
#   session resamples to 8 kHz and encodes; your code sees the same `AudioChunk`s: 8 kHz,
#   `encoding` set, `g711` ready for the line.
# * The price of transcoding is not only bytes: the session's streaming resampler (soxr, high
#   quality) releases 8 → 16 kHz audio in blocks of about 100 ms, so on Gemini a 20 ms packet
#   can wait up to ~80 ms before it leaves. The blocks are the same however the audio is cut,
#   so the wire sees ~100 ms frames.

# %%
by = {(c.provider, c.law): c for c in calls}
for law in ("pcmu", "pcma"):
    openai_call, gemini_call = by["openai", law], by["gemini", law]
    sent_up = b"".join(a[0] for _, a in audio_frames(openai_call, "send"))
    lab.check(
        sent_up == openai_call.caller and typical_frame(openai_call) == (160, 20.0),
        f"openai {law}: the wire carried exactly the caller's G.711 bytes, a frame per packet",
        f"{len(sent_up)} bytes",
    )
    came_down = b"".join(a[0] for _, a in audio_frames(openai_call, "recv"))
    lab.check(
        b"".join(c.g711 for c in openai_call.of(ev.AudioChunk)) == came_down,
        f"openai {law}: AudioChunk.g711 is the bytes the server sent",
    )
    mimes = {a[1] for _, a in audio_frames(gemini_call, "send")}
    lab.check(
        mimes == {"audio/pcm;rate=16000"} and abs(up_ratio(gemini_call) - 4) < 0.1,
        f"gemini {law}: the caller's audio went up as 16 kHz PCM16, four bytes per G.711 byte",
        f"{up_ratio(gemini_call):.2f}: the resampler still holds the last few ms",
    )
    lab.check(
        typical_frame(gemini_call)[1] > 80,
        f"gemini {law}: in blocks of about 100 ms, not 20 ms packets",
        f"{typical_frame(gemini_call)[1]:.2f} ms",
    )
for call in calls:
    chunks = call.of(ev.AudioChunk)
    line = b"".join(c.g711 or b"" for c in chunks)
    voice = np.frombuffer(g711.decode(line, call.law), "<i2").astype(np.float64)
    lab.check(
        call.answered
        and {(c.rate, c.encoding) for c in chunks} == {(8000, call.law)}
        and np.sqrt(np.mean(voice**2)) > 500,
        f"{call.provider} {call.law}: the answer is {call.law} at 8 kHz, and it is a voice",
        f"{len(line) / 8000:.1f} s of telephone audio",
    )
    lab.check(
        call.heard() == "what is the weather in paris"
        and [c.arguments for c in call.of(ev.ToolCall)] == [{"city": "Paris"}],
        f"{call.provider} {call.law}: the caller was heard and the tool called",
        emulator_only=True,
    )

# %% [markdown]
# Listen to what the caller hears from each provider (the G.711 bytes, decoded):

# %%
for call in (by["openai", "pcmu"], by["gemini", "pcma"]):
    line = b"".join(c.g711 for c in call.of(ev.AudioChunk))
    print(f"{call.provider}, {call.law}:")
    display(lab.play(g711.decode(line, call.law), 8000))

# %% [markdown]
# ## Recognition over the phone, measured
#
# Does the model still understand the caller? Send each spoken fixture of `data/speech` three
# ways — 16 kHz PCM16, a µ-law line and an A-law line — to both providers, and compare what the
# provider says it heard (its input transcription) with what was said. Thirty short sessions at
# once; each stops as soon as the model starts answering (by then the user's words are in). With
# a key set, the same cell measures the real service's recognition.

# %%
FIXTURES = ["hello", "weather_paris", "time_tokyo", "story", "which_voice", "noisy"]
TEXTS = {
    f["file"].removesuffix("_16k.wav"): f["text"]
    for f in json.loads((lab.DATA / "speech" / "manifest.json").read_text())["files"]
    if f["file"].endswith("_16k.wav") and "text" in f
}
TEXTS["noisy"] = json.loads((lab.DATA / "speech" / "noisy.json").read_text())["text"]
WAYS = ["pcm16", "pcmu", "pcma"]


def get_time(city: str) -> dict:
    "Get the local time in a city."
    return {"city": city, "time": "18:04"}


async def hear(provider, name, way):
    pcm = lab.speech(name, 16000)
    config = SessionConfig(
        tools=[get_weather, get_time], input_transcription=True, input_format=way
    )
    events = []
    async with connect(provider, config, **lab.connect_kwargs(provider)) as session:
        if way == "pcm16":
            await lab.send_speech(session, pcm, 16000)
        else:
            line = g711.from_pcm16(pcm, 16000, way) + bytes([SILENCE[way]]) * 6400
            for i in range(0, len(line), 160):
                await session.send_g711(line[i : i + 160])
        try:
            async with asyncio.timeout(15):
                async for e in session:
                    events.append(e)
                    if isinstance(e, ev.OutputTranscript | ev.ToolCall | ev.GenerationComplete):
                        break
        except TimeoutError:
            pass
    finals = [e.text for e in events if isinstance(e, ev.InputTranscript) and e.final]
    pieces = "".join(e.text for e in events if isinstance(e, ev.InputTranscript) and not e.final)
    return (provider, name, way), (finals[-1] if finals else pieces)


def words_right(said, heard):
    "How many of the words said were heard, in order."
    a, b = said.lower().split(), heard.lower().replace(",", "").replace(".", "").split()
    return sum(m.size for m in difflib.SequenceMatcher(None, a, b).get_matching_blocks())


with lab.timed("30 sessions"):
    heard = dict(
        await asyncio.gather(
            *(hear(p, n, w) for n in FIXTURES for p in lab.PROVIDERS for w in WAYS)
        )
    )
score = {key: words_right(TEXTS[key[1]], text) for key, text in heard.items()}

# %%
rows, shade = [], []
for name in FIXTURES:
    total = len(TEXTS[name].split())
    cells = [f"{score[p, name, w]}/{total}" for p in lab.PROVIDERS for w in WAYS]
    rows.append([name, TEXTS[name], *cells])
    shade.append(len(set(cells)) > 1)
header = ["fixture", "said", *(f"{p} {w}" for p in lab.PROVIDERS for w in WAYS)]
display(
    lab.table(
        rows, header, highlight=shade, title="words heard (shaded: the line made a difference)"
    )
)
for key, text in heard.items():
    if score[key] < len(TEXTS[key[1]].split()):
        print(f"{' '.join(key)}: heard {text!r}")

# %%
clean = [n for n in FIXTURES if n != "noisy"]
lab.check(
    all(
        score[p, n, w] == len(TEXTS[n].split()) for n in clean for p in lab.PROVIDERS for w in WAYS
    ),
    "clean speech is heard word for word on every path, phone lines included",
    emulator_only=True,
)
lab.check(
    all(
        score[p, n, w] <= score[p, n, "pcm16"]
        for n in FIXTURES
        for p in lab.PROVIDERS
        for w in WAYS
    ),
    "the phone line never makes recognition better",
    emulator_only=True,
)
lost = [k for k in heard if k[1] == "noisy" and score[k] < score[k[0], "noisy", "pcm16"]]
lab.check(
    bool(lost)
    and all(score[p, "noisy", "pcm16"] == len(TEXTS["noisy"].split()) for p in lab.PROVIDERS),
    "noisy speech (16 dB SNR) is heard at 16 kHz, and lost on a phone line",
    ", ".join(" ".join(k) for k in lost),
    emulator_only=True,
)

# %% [markdown]
# The emulator's ears are a small recogniser restricted to the phrases its brain knows, so
# clean telephone speech is easy for them; real services are trained on phone audio too. The
# lesson holds for both: **bandwidth and noise add up**. The recording that is heard at 16 kHz
# despite 16 dB of noise sits at the recogniser's margin once the band above 4 kHz is gone:
# here it is lost on the Gemini path and survives on OpenAI's, and small changes (the tools
# declared, which change what the recogniser listens for; the route, 8 → 24 kHz inside the
# OpenAI emulator, 8 → 16 kHz in the session for Gemini) can flip that verdict. Read it as
# "a phone line leaves less margin for noise", not as a ranking of providers, and measure with
# your provider and your callers' audio.
#
# ## The SIP bridge's tools
#
# A model on a phone line needs a few things only the bridge can do: **hang up**, **press
# keys** (DTMF, to get through another company's phone menu) and **call your back end**.
# Declare them once, as Python functions; each codec turns them into its provider's form.


# %%
@tool
def hangup_call(reason: Annotated[str, "why the call ends, for the call log"] = "") -> dict:
    "End the phone call. Say goodbye first."
    return {"status": "hung up", "reason": reason}


@tool
def send_dtmf(
    digits: Annotated[
        str, {"description": "keys to press in order: 0-9, * and #", "pattern": "^[0-9*#]+$"}
    ],
) -> dict:
    "Press telephone keypad keys (DTMF tones) on the call, e.g. to get through a phone menu."
    return {"sent": digits}


@tool
def api_call(
    method: Literal["GET", "POST", "PUT", "DELETE"],
    uri: Annotated[str, "the path on the call centre's API, e.g. /orders/123"],
    body: Annotated[str, "the request body as JSON text (empty for GET and DELETE)"] = "",
) -> dict:
    "Call the call centre's HTTP API (look up or change an order, a booking, an account)."
    return {"status": 200, "method": method, "uri": uri}


SIP_TOOLS = [hangup_call, send_dtmf, api_call]
for t in SIP_TOOLS:
    for provider in lab.PROVIDERS:
        print(f"{provider:7} {json.dumps(wire_tool(t, provider))}")
    print()

# %% [markdown]
# The same three in the session's opening frame, with the phone formats: a flat list of
# functions in OpenAI's `session.update`, one `functionDeclarations` list in Gemini's `setup`
# (each with `behavior`, since Gemini can also run tools without blocking the conversation).

# %%
bridge = PHONE["pcmu"].replace(tools=SIP_TOOLS)
opening = {p: make_codec(p).initial_frames(bridge)[0] for p in lab.PROVIDERS}
declared = {
    "openai": opening["openai"]["session"]["tools"],
    "gemini": opening["gemini"]["setup"]["tools"][0]["functionDeclarations"],
}
print("openai session.tools:", json.dumps(declared["openai"], indent=1)[:900], "...")
print("gemini setup.tools:", json.dumps(opening["gemini"]["setup"]["tools"], indent=1)[:900], "...")


def digits_schema(provider):
    return next(d for d in declared[provider] if d["name"] == "send_dtmf")["parameters"]


def api_schema(provider):
    return next(d for d in declared[provider] if d["name"] == "api_call")["parameters"]


lab.check(
    [d["name"] for d in declared["openai"]]
    == [d["name"] for d in declared["gemini"]]
    == ["hangup_call", "send_dtmf", "api_call"],
    "declared once, the same three tools reach both providers",
)
lab.check(
    digits_schema("openai")["properties"]["digits"]["type"] == "string"
    and digits_schema("gemini")["properties"]["digits"]["type"] == "STRING"
    and digits_schema("openai")["required"] == digits_schema("gemini")["required"] == ["digits"],
    "digits is a required string on both (JSON Schema 'string', Gemini 'STRING'), never a number",
)
lab.check(
    api_schema("openai")["properties"]["method"]["enum"]
    == api_schema("gemini")["properties"]["method"]["enum"]
    and api_schema("openai")["required"] == api_schema("gemini")["required"] == ["method", "uri"],
    "api_call: the same methods and the same required method and uri on both",
)

# %% [markdown]
# `digits` is a **string** on purpose: "0012#" as a number would lose its leading zeros and
# its `#`. Now let the caller ask for each — typed here, because the emulator's ears only know
# the phrases of its brain (a real model hears them spoken) — and look at how each provider
# delivers the call: OpenAI an output item whose `arguments` are a JSON **string**, Gemini a
# `toolCall` whose `args` are an **object**.

# %%
REQUESTS = ["press the keys for 0012", "make a get api call to orders", "hang up the call please"]


def is_call_frame(frame):
    "OpenAI's finished function_call item, or Gemini's toolCall message."
    if frame_type(frame) == "response.output_item.done":
        return frame["item"]["type"] == "function_call"
    return "toolCall" in frame


async def ask_for_tool(provider, text):
    frames, call = [], None
    kwargs = lab.connect_kwargs(provider)
    async with connect(
        provider, bridge, frame_tap=lambda d, f, t: frames.append((d, f)), **kwargs
    ) as session:
        await session.send_text(text)
        try:
            async with asyncio.timeout(10):
                async for e in session:
                    if isinstance(e, ev.ToolCall):
                        call = e
                        break
        except TimeoutError:
            pass
    wire = next((f for d, f in frames if d == "recv" and is_call_frame(f)), None)
    return (provider, text), (call, wire)


with lab.timed("six requests"):
    tool_calls = dict(
        await asyncio.gather(*(ask_for_tool(p, r) for r in REQUESTS for p in lab.PROVIDERS))
    )
for (provider, text), (call, wire) in tool_calls.items():
    print(f"{provider:7} {text!r}")
    if call is not None:
        print(f"        ToolCall {call.name}({call.arguments})")
    if wire is not None:
        if "item" in wire:  # OpenAI: the function_call item
            shown = {k: wire["item"][k] for k in ("type", "name", "arguments")}
        else:  # Gemini: the toolCall message
            shown = {
                "functionCalls": [
                    {k: c[k] for k in ("name", "args")} for c in wire["toolCall"]["functionCalls"]
                ]
            }
        print(f"        wire: {json.dumps(shown)}")

# %%
for text in REQUESTS:
    both = [tool_calls[p, text][0] for p in lab.PROVIDERS]
    lab.check(
        all(c is not None for c in both)
        and len({(c.name, json.dumps(c.arguments)) for c in both}) == 1,
        f"{text!r}: the same call on both providers",
        f"{both[0].name}({both[0].arguments})" if both[0] else "no call",
        emulator_only=True,
    )
openai_wire = (tool_calls["openai", REQUESTS[0]][1] or {}).get("item", {})
gemini_wire = (tool_calls["gemini", REQUESTS[0]][1] or {}).get("toolCall", {"functionCalls": [{}]})
gemini_wire = gemini_wire["functionCalls"][0]
lab.check(
    isinstance(openai_wire.get("arguments"), str) and isinstance(gemini_wire.get("args"), dict),
    "on the wire: a JSON string on OpenAI, an object on Gemini; ToolCall.arguments is a dict on both",
)
lab.check(
    json.loads(openai_wire["arguments"]).get("digits")
    == gemini_wire["args"].get("digits")
    == "0012",
    "the digits arrive as a string, leading zeros included",
    emulator_only=True,
)

# %% [markdown]
# ## Summary
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | telephone audio in | `audio/pcmu` / `audio/pcma`, bytes untouched | the session decodes and resamples to 16 kHz PCM16 |
# | telephone audio out | G.711 from the server | 24 kHz PCM16, resampled and encoded by the session |
# | bytes per 20 ms up | 160 | 640 |
# | your code | `SessionConfig(input_format=, output_format=)`, `send_g711`, `AudioChunk.g711` | the same |
# | tools | flat `function` entries; arguments a JSON string | `functionDeclarations`; args an object |
#
# And whatever the provider: the band above 4 kHz is gone on a phone line. Test turn detection
# and recognition with phone audio, not with your laptop's microphone.
