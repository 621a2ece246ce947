# %% [markdown]
# # 09 · Seeing
#
# A voice conversation can include pictures: a photo the user uploads, a screenshot, frames
# from a camera. Both providers take them, in their own way:
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | on the wire | `conversation.item.create`: a user message with an `input_image` part (a `data:` URL) | `realtimeInput.video`: a frame `{mimeType, data}` |
# | what it is | an item of the conversation | a camera frame: it joins the **next** user turn |
# | formats | JPEG, PNG | JPEG, PNG (one frame per second at most, for a camera) |
# | billed as | image tokens (85 + 170 per 512-pixel tile) | 258 tokens per small image or frame |
# | limits | — | with pictures, a session ends after **2 minutes** unless context compression is on; on 2.5 models, frames count only while the user speaks |
#
# Your code is the same on both: `await session.send_image(data, "image/png")` (or
# `"image/jpeg"`), then ask about it — typed or spoken. No reply is requested by the picture
# itself. `session.capabilities.image_input` says whether a provider can see at all.
#
# The emulator has (very simple) eyes (`realtimelab/emulator/vision.py`): it reads a picture's
# size and its **dominant colour** and says so, deterministically — enough to check that a
# picture arrived, and which one. A real model describes it properly, which is why the checks on
# the emulator's own words below say "not checked" on a real provider.

# %%
# %matplotlib inline
import asyncio
import base64
import io
import json
import textwrap
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.observe import frame_type
from realtimelab.providers.base import UserImage, image_placeholder

lab.banner()

# %% [markdown]
# ## Three pictures, made here
#
# No downloads: numpy arrays saved as PNG, and a matplotlib chart saved as JPEG.


# %%
def png(pixels):
    "An H×W×3 uint8 array as PNG bytes."
    buf = io.BytesIO()
    plt.imsave(buf, pixels, format="png")
    return buf.getvalue()


size = 64
y, x = np.mgrid[:size, :size]
disc = np.full((size, size, 3), 255, np.uint8)  # white paper ...
disc[(x - 31.5) ** 2 + (y - 31.5) ** 2 < 30**2] = (220, 30, 30)  # ... mostly covered in red

landscape = np.zeros((64, 96, 3), np.uint8)
landscape[:40] = (40, 80, 210)  # sky: the top 40 of 64 rows
landscape[40:] = (40, 160, 60)  # a field

fig = plt.figure(figsize=(2, 1.5), dpi=80)  # 160 x 120 pixels
t = np.linspace(0, 4 * np.pi, 200)
plt.plot(t, np.sin(t), color="#4c72b0", lw=1)
plt.title("a chart", fontsize=8)
buf = io.BytesIO()
fig.savefig(buf, format="jpeg")
plt.close(fig)

PICTURES = {
    "red disc": (png(disc), "image/png"),
    "landscape": (png(landscape), "image/png"),
    "chart": (buf.getvalue(), "image/jpeg"),
}
# what a person would say about each: its size in pixels and its main colour
EXPECTED = {
    "red disc": ("64 by 64", "red"),
    "landscape": ("96 by 64", "blue"),
    "chart": ("160 by 120", "white"),
}
for name, (data, mime) in PICTURES.items():
    print(f"{name:10} {mime:10} {len(data):6} bytes")

# %% [markdown]
# ## Showing a picture to both providers
#
# Each picture goes to each provider in its own session — `send_image`, then the typed question
# *"What do you see?"* — six sessions at once. A frame tap keeps what went on the wire.

# %%
QUESTION = "What do you see?"


@dataclass
class Look:
    provider: str
    name: str
    frames: list = field(default_factory=list)  # (direction, frame)
    events: list = field(default_factory=list)
    history: tuple = ()

    def said(self):
        finals = [e.text for e in self.events if isinstance(e, ev.OutputTranscript) and e.final]
        return " ".join(finals)

    def usage(self):
        return next((e.usage for e in self.events if isinstance(e, ev.TurnComplete)), None)


async def show(provider, name, config=None, live=False):
    data, mime = PICTURES[name]
    look = Look(provider, name)
    kwargs = lab.connect_kwargs(provider)
    async with connect(
        provider,
        config,
        frame_tap=lambda d, f, t: look.frames.append((d, f)),
        player=lab.speaker(provider) if live else None,
        **kwargs,
    ) as session:
        await session.send_image(data, mime)
        await session.send_text(QUESTION)
        try:
            async with asyncio.timeout(15):
                async for e in session:
                    look.events.append(e)
                    if isinstance(e, ev.TurnComplete):
                        break
        except TimeoutError:
            pass  # the checks below say what is missing
        look.history = session.history
    return look


FIRST = next(iter(PICTURES))
speakers = lab.live_players()  # the answers about the first picture play live here
with lab.timed("six sessions"):
    looks = await asyncio.gather(
        *(show(p, n, live=n == FIRST) for n in PICTURES for p in lab.PROVIDERS)
    )
looks = {(look.provider, look.name): look for look in looks}
for (provider, name), look in looks.items():
    print(f"{provider:7} {name:10} {look.said()}")
lab.check_played_live()  # where a browser page plays the speakers: it played the answers

# %%
fig, axes = plt.subplots(1, len(PICTURES), figsize=(12, 3.6))
for ax, (name, (data, mime)) in zip(axes, PICTURES.items()):
    ax.imshow(plt.imread(io.BytesIO(data), format=mime.split("/")[1]))
    answers = "\n".join(textwrap.fill(f"{p}: {looks[p, name].said()}", 44) for p in lab.PROVIDERS)
    ax.set_title(f"{name} ({mime})", fontsize=10)
    ax.set_xlabel(answers, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
lab.show_figure(fig)

# %%
for (provider, name), look in looks.items():
    dims, colour = EXPECTED[name]
    lab.check(
        dims in look.said() and colour in look.said(),
        f"{provider}: the {name} is '{dims}, mostly {colour}'",
        emulator_only=True,
    )

# %% [markdown]
# Things to notice: the red disc leaves white corners, yet it is "mostly red" (69 % of its
# pixels); the chart is "mostly white" — the emulator reports the commonest colour, not what
# matters. A real model reads the chart.
#
# ### On the wire
#
# The same bytes, two shapes. OpenAI gets a conversation item holding a `data:` URL;
# Gemini a realtime-input video frame with the bytes and their MIME type. Base64 payloads are
# shortened here:


# %%
def shortened(frame):
    text = json.dumps(frame)
    for blob in (frame.get("realtimeInput", {}).get("video", {}).get("data", ""),):
        if blob:
            text = text.replace(blob, blob[:16] + "…")
    if "item" in frame:
        for part in frame["item"].get("content", []):
            url = part.get("image_url", "")
            if url:
                text = text.replace(url, url[:40] + "…")
    return text


def picture_frame(look):
    return next(
        f
        for d, f in look.frames
        if d == "send" and frame_type(f) in ("conversation.item.create", "realtimeInput.video")
    )


def payload(frame):
    "The picture bytes and MIME type a frame carries."
    if "realtimeInput" in frame:
        video = frame["realtimeInput"]["video"]
        return base64.b64decode(video["data"]), video["mimeType"]
    [part] = frame["item"]["content"]
    head, _, data = part["image_url"].partition(",")
    return base64.b64decode(data), head.removeprefix("data:").removesuffix(";base64")


for provider in lab.PROVIDERS:
    frame = picture_frame(looks[provider, "red disc"])
    print(f"{provider}: {frame_type(frame)}\n  {shortened(frame)}")
openai_frame = picture_frame(looks["openai", "red disc"])
lab.check(
    openai_frame["item"]["content"][0]["type"] == "input_image"
    and openai_frame["item"]["role"] == "user",
    "OpenAI: a user message with an input_image part",
)
lab.check(
    frame_type(picture_frame(looks["gemini", "red disc"])) == "realtimeInput.video",
    "Gemini: a realtimeInput.video frame",
)
lab.check(
    all(payload(picture_frame(look)) == PICTURES[look.name] for look in looks.values()),
    "both carry exactly the picture's bytes and MIME type",
)
sent = {
    p: [frame_type(f) for d, f in looks[p, "chart"].frames if d == "send"] for p in lab.PROVIDERS
}
print(sent)
lab.check(
    sent["openai"][1:]
    == ["conversation.item.create", "conversation.item.create", "response.create"]
    and sent["gemini"][1:] == ["realtimeInput.video", "realtimeInput.text"],
    "a picture asks for no reply by itself: the question does",
)

# %% [markdown]
# ### In the history, and the bill
#
# The session's `history` records the picture as `UserImage(mime, nbytes)` — **without its
# bytes**. After a reconnect, a replay cannot show it again; it says that a picture was shown
# (the placeholder below), and your code sends the picture again if the model must still see
# it. Both providers bill the picture as image tokens, each by its own rule.

# %%
look = looks["openai", "red disc"]
print("history:", look.history)
data, mime = PICTURES["red disc"]
lab.check(
    look.history[0] == UserImage(mime, len(data)),
    "the history records the picture: its type and size, before the question",
)
print("a replay says:", image_placeholder(look.history[0]))
lab.check(
    all(not hasattr(item, "data") for look in looks.values() for item in look.history),
    "and never its bytes",
)
tokens = {
    p: getattr(looks[p, "red disc"].usage(), "input_image_tokens", None) for p in lab.PROVIDERS
}
print("image tokens for the 64×64 red disc:", tokens)
lab.check(
    tokens == {"openai": 85 + 170, "gemini": 258},
    "billed by each provider's rule: OpenAI 85 + 170 for one tile, Gemini 258 for a small image",
    emulator_only=True,
)

# %% [markdown]
# ## Camera frames on Gemini: which frames count
#
# On Gemini a picture is a **camera frame**, and which frames belong to a turn depends on the
# model's `turnCoverage` default:
#
# * **3.x models** (`TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO`): every frame sent since the
#   last turn joins the next one;
# * **2.5 models** (`TURN_INCLUDES_ONLY_ACTIVITY`): only frames sent **while the user speaks**.
#   A frame sent before the question is dropped from the turn (and not billed).
#
# Four spoken questions ("what do you see", synthesised), the frame sent either before the
# question or half-way through it:

# %%
M25 = "gemini-2.5-flash-native-audio-preview-12-2025"
ALL_INPUT = {"gemini": {"realtimeInputConfig": {"turnCoverage": "TURN_INCLUDES_ALL_INPUT"}}}
CASES = {
    "3.x, frame before": (None, {}, "before"),
    "2.5, frame before": (M25, {}, "before"),
    "2.5, frame while speaking": (M25, {}, "during"),
    "2.5, frame before, TURN_INCLUDES_ALL_INPUT": (M25, ALL_INPUT, "before"),
}
spoken = lab.utterance("what do you see", 16000)
half = len(spoken) // 2 // 640 * 640  # a whole number of 20 ms frames


async def camera_turn(model, extra, when):
    data, mime = PICTURES["red disc"]
    config = SessionConfig(model=model, extra=extra)
    events = []
    async with connect("gemini", config, **lab.connect_kwargs("gemini")) as session:
        if when == "before":
            await session.send_image(data, mime)
        for i in range(0, half, 640):  # the first half of the question
            await session.send_audio(spoken[i : i + 640], 16000)
        if when == "during":
            await session.send_image(data, mime)
        await lab.send_speech(session, spoken[half:], 16000)  # the rest, then silence
        try:
            async with asyncio.timeout(15):
                async for e in session:
                    events.append(e)
                    if isinstance(e, ev.TurnComplete):
                        break
        except TimeoutError:
            pass
    said = " ".join(e.text for e in events if isinstance(e, ev.OutputTranscript) and e.final)
    usage = next((e.usage for e in events if isinstance(e, ev.TurnComplete)), None)
    return said, usage.input_image_tokens if usage else None


with lab.timed("four Gemini sessions"):
    coverage = dict(zip(CASES, await asyncio.gather(*(camera_turn(*c) for c in CASES.values()))))
rows = [[case, said, tokens] for case, (said, tokens) in coverage.items()]
lab.table(rows, ["case", "Gemini said", "image tokens"])

# %%
saw = {case: "64 by 64" in said for case, (said, _) in coverage.items()}
lab.check(
    saw["3.x, frame before"],
    "3.x: a frame sent before the question is part of the turn",
    emulator_only=True,
)
lab.check(
    not saw["2.5, frame before"] and coverage["2.5, frame before"][1] == 0,
    "2.5: a frame sent before the question is dropped, and not billed",
    emulator_only=True,
)
lab.check(
    saw["2.5, frame while speaking"] and saw["2.5, frame before, TURN_INCLUDES_ALL_INPUT"],
    "2.5: send frames while the user speaks, or ask for TURN_INCLUDES_ALL_INPUT",
    emulator_only=True,
)

# %% [markdown]
# ## The two-minute limit
#
# "Without compression, audio-only sessions are limited to 15 minutes, and audio-video
# sessions are limited to 2 minutes" (Gemini Live, session management). A camera at one frame
# per second reaches that after 120 frames. The emulator counts each frame as one second of
# video, so we need not wait two minutes: 121 frames in a burst stand for a camera that ran a
# little over two minutes. Two sessions — without and with
# `contextWindowCompression: {slidingWindow: {}}` (passed through `SessionConfig.extra`) — then
# a typed "hello there" to see who is still listening.
#
# (Emulator only: against the real service this would be two minutes of camera and 121
# billed frames.)

# %%
frames = [
    png(np.full((24, 32, 3), (i * 2, 120, 255 - i * 2), np.uint8)) for i in range(121)
]  # a slowly changing colour, 32×24 pixels
COMPRESSION = {"gemini": {"contextWindowCompression": {"slidingWindow": {}}}}


async def long_camera(extra):
    events = []
    async with connect("gemini", SessionConfig(extra=extra), **lab.connect_kwargs("gemini")) as s:
        for frame in frames:
            await s.send_image(frame, "image/png")
        await asyncio.sleep(0.3)  # let the server count them
        if not s.closed:
            await s.send_text("hello there")
        try:
            async with asyncio.timeout(10):
                async for e in s:
                    events.append(e)
                    if isinstance(e, ev.Closed | ev.OutputTranscript):
                        break
        except TimeoutError:
            pass
    return events


if lab.on_emulator("gemini"):
    with lab.timed("two sessions, 121 frames each"):
        plain, compressed = await asyncio.gather(long_camera({}), long_camera(COMPRESSION))
    for label, events in (("no compression", plain), ("sliding window", compressed)):
        shown = [
            f"{e.kind}({e.code}, {e.reason!r})" if isinstance(e, ev.Closed) else e.kind
            for e in events
            if isinstance(e, ev.Closed | ev.OutputTranscript | ev.Error)
        ]
        print(f"{label:15} {shown}")
    closed = [e for e in plain if isinstance(e, ev.Closed)]
    lab.check(
        closed and closed[0].code == 1011 and "Deadline expired" in closed[0].reason,
        "without compression the session ends after two minutes of video: close 1011",
    )
    lab.check(
        not any(isinstance(e, ev.Closed) for e in compressed)
        and any(isinstance(e, ev.OutputTranscript) for e in compressed),
        "with a sliding context window it keeps going, and answers",
    )
else:
    print("a real Gemini key is set: this demonstration runs on the emulator only")

# %% [markdown]
# `ResilientSession` (notebook 04) resumes a session closed this way; with a camera running,
# turn compression on instead, and keep frames to one per second.
#
# ## Summary
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | `send_image(data, mime)` sends | `conversation.item.create` + `input_image` (`data:` URL) | `realtimeInput.video` |
# | the history keeps | `UserImage(mime, nbytes)`, no bytes; a replay sends a placeholder | the same |
# | which pictures count | every item | 3.x: every frame; 2.5: frames while the user speaks (or `TURN_INCLUDES_ALL_INPUT`) |
# | limits | — | 2 minutes with video, unless `contextWindowCompression` |
# | ask about it | `send_text` or speech | the same |
