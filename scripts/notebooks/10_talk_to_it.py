# %% [markdown]
# # 10 · Talk to it
#
# Everything so far sent recordings. Here you speak. `realtimelab.widgets.TalkPanel` is one
# panel holding a realtime session, **your browser's** microphone and speaker, a live
# transcript, who-is-speaking indicators, the model's tool calls and the latency of every turn
# (`docs/talk.md` has the details).
#
# The audio never touches the machine the kernel runs on: it is captured and played in **the
# page that shows this notebook**, so the same cell works on your laptop, on JupyterHub and on
# a remote kernel. Assistant audio travels to the page as binary widget messages and plays as
# it arrives; the page reports what it has *really* played, several times a second, and that
# position is what a barge-in truncates at.
#
# **In JupyterLab (Chromium, Chrome, Edge, Firefox):** run the cells, click **Start** on a panel,
# allow the microphone, and talk — "hello there", "what is the weather in Paris", "tell me a
# story" (then talk over it). The emulator answers unless a key is set; with a key, the same
# panel talks to the real service.
#
# **Without a browser** (the test command, CI, a plain kernel) there is no page: no microphone
# and no speaker. The panels still build and connect, and further down a *simulated page* — a
# few lines of Python doing what the browser does — holds a whole conversation with each
# provider, barge-in included, so what this notebook claims is checked on every run.

# %%
# %matplotlib inline
import asyncio
import json

import matplotlib.pyplot as plt
from IPython.display import display

from realtimelab import lab
from realtimelab.audio import read_wav
from realtimelab.widgets import TalkPanel

lab.banner()


# %% [markdown]
# ## A panel per provider
#
# `TalkPanel(provider, tools=[...])` and nothing else: where the session goes is decided as for
# `connect()` — the lab's emulator (`$REALTIMELAB_EMULATOR_URL`) unless a key is set. The tool
# is answered by a `ToolDispatcher` inside the panel; ask for the weather to see a call.


# %%
def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    return {"city": city, "forecast": "sunny", "temp_c": 21}


panels = {p: TalkPanel(p, tools=[get_weather]) for p in lab.PROVIDERS}
for panel in panels.values():
    display(panel)

# %% [markdown]
# What a panel is before it starts — the same in a browser and without one:

# %%
stats = {p: panel.stats() for p, panel in panels.items()}
print(json.dumps(stats["openai"], indent=1)[:600], "…")
for provider, panel in panels.items():
    lab.check(
        stats[provider]["state"] == "idle"
        and stats[provider]["transcript"] == []
        and {"mic_ms", "played_ms", "transcript", "turns", "interruptions"} <= set(stats[provider]),
        f"{provider}: not started; stats() has the microphone, the page's playback, the transcript",
    )
    lab.check(
        panel.config.input_transcription
        and [t.name for t in panel.config.tools] == ["get_weather"],
        f"{provider}: the panel turned on input transcription and declared the tool",
    )

# %% [markdown]
# ## Is a page showing the panels?
#
# A page that shows a panel says hello to the kernel within a second and keeps reporting. If
# none does, this kernel has no browser attached.

# %%
attached = await lab.wait_until(lambda: all(p.audio.connected for p in panels.values()), 3)
if attached:
    front = panels["openai"].audio.front_end
    print(f"a page shows the panels: {front}")
    print("click Start on a panel (or run panels['openai'].start()), allow the microphone, talk")
    lab.check(
        all(p.audio.front_end.get("origin") for p in panels.values()),
        "the panels' audio is in this browser page",
        front.get("origin", ""),
    )
else:
    print("no page shows the panels: this kernel runs without a browser")
    lab.check(
        not any(p.audio.connected for p in panels.values()),
        "without a browser no page owns the panels' audio",
    )

# %% [markdown]
# Without a page, a started panel still opens its session — only nobody speaks into it and
# nobody hears it. (In the lab this cell leaves your panels alone: start them with the button.)

# %%
if not attached:
    panel = panels["openai"]
    live = await panel.start()
    await asyncio.sleep(1.0)
    headless = panel.stats()
    await panel.stop()
    print(f"state {headless['state']}, {headless['backend']}, mic {headless['mic_ms']} ms")
    lab.check(
        live and headless["state"] == "live" and headless["mic_ms"] == 0,
        "the session went live without a page, and heard nothing: there is no microphone",
    )
    lab.check(panel.state == "stopped" and panel.session is None, "stop() ends it")
else:
    print("a page is attached: start the panels above yourself")

# %% [markdown]
# ## A conversation through a simulated page
#
# `lab.SimulatedPage(panel, mic)` does in Python what the page does: it plays what the kernel
# sends at real time, reports its position like the browser's AudioWorklet, honours flushes,
# and streams a recording as the microphone, in 20 ms frames. Everything else is real: the
# panel, its session, the emulator or provider. (It takes over the panel's widget messages, so
# it gets panels of its own, not displayed.)
#
# The microphone plays `data/talk/story_then_thanks_16k.wav`: *"tell me a story"*, 3.7 s of
# silence, then *"thank you"* — spoken while the story is still playing. That is a barge-in:
# the page must go silent at once, and what the model remembers must be cut to what the page
# had really played.

# %%
meta = json.loads((lab.DATA / "talk" / "story_then_thanks.json").read_text())
mic, mic_fmt = read_wav(lab.DATA / "talk" / meta["file"])
for s in meta["segments"]:
    print(f"  {s['start_ms']:6.0f} – {s['end_ms']:6.0f} ms  {s['text']}")


async def conversation(provider):
    truncates = []  # OpenAI: what the session told the server was heard

    def tap(direction, frame, t):
        if direction == "send" and frame.get("type") == "conversation.item.truncate":
            truncates.append(frame)

    panel = TalkPanel(provider, tools=[get_weather], frame_tap=tap)
    page = lab.SimulatedPage(panel, mic, mic_fmt.rate)
    try:
        await panel.start()

        def done():
            cuts = panel.stats()["interruptions"]
            thanked = [e for e in panel.transcript if e["role"] == "assistant" and e["final"]]
            return cuts and page.flushes and len(thanked) >= 2 and not panel.audio.playing

        # until the answer to "thank you" has played too; the checks say what did not happen
        await lab.wait_until(done, 15)
        stats = panel.stats()
    finally:
        await panel.stop()
        page.close()
    return dict(stats=stats, truncates=truncates, page=page)


def silenced_at(talk):
    "Where the page went silent in the interrupted answer: its position at the first flush."
    cut = talk["stats"]["interruptions"][0]
    return next((ms for _, item, ms in talk["page"].flushes if item == cut["item_id"]), None)


with lab.timed("a conversation per provider, at the speed of speech"):
    talks = dict(zip(lab.PROVIDERS, await asyncio.gather(*map(conversation, lab.PROVIDERS))))

# %% [markdown]
# The transcript each panel showed (an interrupted answer is cut to what was heard; its text
# is shortened here), and the barge-in as the panel recorded it:

# %%
for provider, talk in talks.items():
    print(f"--- {provider}")
    for entry in talk["stats"]["transcript"]:
        who = "you  " if entry["role"] == "user" else "model"
        text = entry["text"]
        if entry.get("interrupted"):
            text = f"{text[:40]}… [interrupted]"
        print(f"  {who}: {text}")
    for cut in talk["stats"]["interruptions"][:1]:
        stopped = silenced_at(talk)
        print(
            f"  barge-in ({cut['reason']}): the session's heard position {cut['heard_ms']:.0f} ms, "
            f"the page's {cut['page_heard_ms']:.0f} ms, the page silenced at "
            + ("(never)" if stopped is None else f"{stopped:.0f} ms")
        )

# %%
fig, axes = plt.subplots(len(talks), 1, figsize=(11, 2.4 * len(talks)), sharex=True)
for ax, (provider, talk) in zip(axes, talks.items()):
    page, stats = talk["page"], talk["stats"]
    t, played, _ = zip(*page.timeline)
    ax.plot(t, [p / 1000 for p in played], color="#4c72b0", label="played in page (reports)")
    for s in meta["segments"]:
        start = page.mic_started + s["start_ms"] / 1000
        ax.axvspan(start, start + (s["end_ms"] - s["start_ms"]) / 1000, color="#55a868", alpha=0.3)
        ax.text(start, 0.3, f" you: {s['text']}", fontsize=8, color="#2b6e3a")
    cuts = stats["interruptions"]
    if cuts:  # `mono` is the barge-in on time.monotonic(), the page's clock
        ax.axvline(cuts[0]["mono"] - page.t0, color="#c44e52", ls="--", lw=1, label="barge-in")
    ax.set_ylabel("s of answer played")
    ax.set_title(provider, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
axes[-1].set_xlabel("seconds")
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# The blue line climbs at one second per second while the page plays; it flattens when the
# page goes silent — at the barge-in — and climbs again, briefly, for the answer to
# "thank you".

# %%
for provider, talk in talks.items():
    stats = talk["stats"]
    said = [e["text"].lower().strip(" .!?") for e in stats["transcript"] if e["role"] == "user"]
    lab.check(
        "tell me a story" in said and any("thank" in s for s in said),
        f"{provider}: the model heard both things said into the microphone",
        emulator_only=True,
    )
    lab.check(
        stats["played_ms"] > 1000 and stats["mic_ms"] >= meta["segments"][1]["end_ms"],
        f"{provider}: the microphone streamed, and the answer played in the page",
        f"{stats['mic_ms'] / 1000:.1f} s heard, {stats['played_ms'] / 1000:.1f} s played",
    )
    cuts = stats["interruptions"]
    lab.check(len(cuts) == 1, f"{provider}: 'thank you' interrupted the story", emulator_only=True)
    if not cuts:  # only a real model can get here: its story ended before "thank you"
        print(f"· {provider}: the answer ended before 'thank you': no barge-in to check")
        continue
    cut = cuts[0]
    lab.check(
        abs(cut["heard_ms"] - cut["page_heard_ms"]) < 50,
        f"{provider}: the session's idea of what was heard is the page's own position",
        f"{cut['heard_ms']:.0f} ms vs {cut['page_heard_ms']:.0f} ms",
    )
    stopped = silenced_at(talk)
    lab.check(
        stopped is not None and -30 <= stopped - cut["heard_ms"] < 300,
        f"{provider}: and the page went silent right there",
        "never" if stopped is None else f"{stopped - cut['heard_ms']:.0f} ms later",
    )
    lab.check(
        stats["discarded_ms"] > 1000,
        f"{provider}: the rest of the story was never played",
        f"{stats['discarded_ms'] / 1000:.1f} s discarded",
    )
    answer = next(e for e in stats["transcript"] if e["role"] == "assistant")
    lab.check(
        answer.get("interrupted") and len(answer["heard_text"]) < len(answer["text"]),
        f"{provider}: the transcript marks the answer as interrupted, cut to what was heard",
    )
truncate = talks["openai"]["truncates"]
for cut in talks["openai"]["stats"]["interruptions"][:1]:
    lab.check(
        len(truncate) == 1 and abs(truncate[0]["audio_end_ms"] - cut["heard_ms"]) <= 1,
        "openai: conversation.item.truncate told the server that position (audio_end_ms)",
        f"{truncate[0]['audio_end_ms'] if truncate else None} ms",
    )
for cut in talks["gemini"]["stats"]["interruptions"][:1]:
    lab.check(
        cut["reason"] == "client_vad",
        "gemini: the barge-in came from the client's own VAD (Gemini sends no speech events)",
    )

# %% [markdown]
# ### Latency per turn
#
# The panel's latency table, as data (`stats()["turns"]`; definitions in `docs/timing.md`):
# *ttfb* is the wire (end of your turn as the server saw it → first audio byte), *perceived*
# the kit's playout model (your end of speech → first audible audio), *heard in page* the
# page's own report of when it started playing, and *interrupted* how long the model kept
# talking over you.

# %%
rows = []
for provider, talk in talks.items():
    for turn in talk["stats"]["turns"]:
        rows.append(
            [
                provider,
                turn["turn"],
                turn["input"],
                *(
                    "-" if turn[k] is None else f"{turn[k]:.0f} ms"
                    for k in ("ttfb_ms", "perceived_ms", "page_ms", "interrupt_ms")
                ),
            ]
        )
header = ["provider", "turn", "input", "ttfb (wire)", "perceived", "heard in page", "interrupted"]
display(lab.table(rows, header))
for provider, talk in talks.items():
    first = (talk["stats"]["turns"] or [{}])[0]
    lab.check(
        first.get("page_ms") is not None
        and first.get("perceived_ms") is not None
        and first["page_ms"] >= first["perceived_ms"] - 50,
        f"{provider}: the page cannot start playing before the audio arrived",
    )

# %% [markdown]
# ## Your turn
#
# In JupyterLab, scroll up, click **Start** on a panel and talk. Things to try:
#
# * "what is the weather in Paris": the tools line shows the call and its result;
# * "tell me a story", then talk over it: the transcript strikes through what you did not hear,
#   and the latency table fills an *interrupted* column;
# * switch to **push-to-talk**: on OpenAI the session is updated in place; Gemini cannot change
#   a live session, so the panel reconnects (a new conversation);
# * with loudspeakers, keep **echo cancellation** on, or the model hears itself and stops.
#
# The last cell stops whatever is still running.

# %%
for panel in panels.values():
    await panel.stop()
print({p: panel.state for p, panel in panels.items()})
