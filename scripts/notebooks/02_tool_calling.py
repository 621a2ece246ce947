# %% [markdown]
# # 02 · Tool calling
#
# A realtime model can stop talking, ask **your code** to run a function, and carry on with the
# result. The protocol is simple; getting it right is not. The classic failure is a **hung
# turn**: the model asked for a tool, something went wrong, nothing went back — and the model
# waits forever. This notebook covers:
#
# 1. **declaring** tools from Python functions (`@tool`) and what each provider receives;
# 2. the **`ToolDispatcher`**: parallel calls, timeouts with placeholders, errors the model can
#    read and talk about;
# 3. the **acknowledgement gap**: the silence while a tool runs, and how one spoken sentence
#    before the call hides it.

# %%
# %matplotlib inline
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import matplotlib.pyplot as plt

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.observe import frame_type
from realtimelab.providers.gemini.tools import to_declaration as gemini_declaration
from realtimelab.schema import SchemaError, Tool, tool, wire_tool
from realtimelab.tools import (
    ToolDispatcher,
    ToolRegistry,
    acknowledgement_instructions,
    silent_gap_ms,
)

lab.banner()

# %% [markdown]
# ## Declaring a tool
#
# `@tool` reads the signature, the type hints and the docstring, and builds a `Tool` holding
# plain **JSON Schema**. `Literal` becomes an `enum`, `Annotated[x, "text"]` a description,
# `Annotated[int, {"minimum": ...}]` a constraint, a default makes an argument optional. The
# decorated function stays callable.


# %%
@tool
def get_weather(
    city: Annotated[str, "city name, e.g. Paris"],
    units: Literal["celsius", "fahrenheit"] = "celsius",
) -> dict:
    "Get the current weather for a city."
    return {"city": city, "temp_c": 21, "condition": "sunny"}


print(json.dumps(get_weather.parameters, indent=1))
lab.check(get_weather.parameters["required"] == ["city"], "a default makes `units` optional")
lab.check(
    get_weather.parameters["properties"]["units"]["enum"] == ["celsius", "fahrenheit"],
    "Literal became an enum",
)
print("still a function:", get_weather(city="Paris"))

# %% [markdown]
# Each provider wants its own wire shape. OpenAI's GA Realtime API takes a **flat** function tool
# (`type`, `name`, `parameters` side by side, lowercase JSON Schema). Gemini takes a
# **`functionDeclaration`** whose `parameters` are an OpenAPI-3.0 `Schema` with UPPERCASE types.
# Each translation lives in its provider's folder (`realtimelab/providers/<name>/tools.py`);
# `wire_tool(tool, provider)` shows what that provider's codec sends:

# %%
wire = {p: wire_tool(get_weather, p) for p in lab.PROVIDERS}
for provider, declaration in wire.items():
    print(f"{provider}:", json.dumps(declaration))
lab.check(wire["openai"]["parameters"]["type"] == "object", "OpenAI: lowercase JSON Schema")
lab.check(wire["gemini"]["parameters"]["type"] == "OBJECT", "Gemini: UPPERCASE Schema types")

# %% [markdown]
# Gemini's `Schema` cannot say everything JSON Schema can. A `dict[str, int]` argument needs
# `additionalProperties`, which the Gemini Developer API rejects. Instead of silently dropping
# the constraint (and letting the model send anything), the Schema translator raises
# `SchemaError` naming the tool, the keyword and where it is. The way out is
# `json_schema=True`, which sends the JSON Schema untouched as `parametersJsonSchema` — and
# that is what the Gemini codec falls back to by itself:


# %%
@tool
def set_stock(counts: Annotated[dict[str, int], "item name -> how many are left"]) -> str:
    "Record how many of each item are in stock."
    return "ok"


with lab.expect_error(SchemaError, match="additionalProperties"):
    gemini_declaration(set_stock)
sent = wire_tool(set_stock, "gemini")
print("what the Gemini codec sends:", json.dumps(sent))
lab.check("parametersJsonSchema" in sent, "the codec falls back to parametersJsonSchema")

# %% [markdown]
# ## The dispatcher
#
# `ToolDispatcher(session, registry)` watches the event stream and answers every `ToolCall`:
#
# * calls of one turn run **in parallel** (async tools as tasks, sync tools in a thread) and are
#   answered **together** — every outcome goes back, always;
# * a tool slower than its `timeout_s` is first answered with a **placeholder**
#   (`{"status": "pending", ...}`), and the real result follows when it is ready;
# * an unknown tool, arguments that fail the schema, or an exception become a **structured
#   error** the model reads (and can say out loud) instead of a hung turn.
#
# `tools.run()` yields every event of the session while it dispatches in the background. The
# helper below sends one typed question and records everything until the model's answer is
# complete (`TurnComplete`, once per answer on every provider, across tool round trips), or
# `answers` of them when a late result earns a second reply.
#
# Every answer plays live on this page, through a speaker per provider (`lab.live_players()`,
# sound on for the first; notebook 01 explains them). When a cell runs two sessions of one
# provider at once, only one of them gets the speaker, so the answers do not overlap.

# %%
speakers = lab.live_players()

# %%
BRIEF = "You are a helpful voice assistant. Be brief."


@dataclass
class Run:
    provider: str
    events: list = field(default_factory=list)
    records: list = field(default_factory=list)  # what the dispatcher sent (DispatchRecord)
    frames: list = field(default_factory=list)  # wire frames (direction, frame, t)
    sent: float = 0.0  # when the question went out (session clock)

    def said(self):
        return [e.text for e in self.events if isinstance(e, ev.OutputTranscript) and e.final]

    def calls(self):
        return [e for e in self.events if isinstance(e, ev.ToolCall)]


async def ask(
    provider,
    registry,
    text,
    *,
    instructions=BRIEF,
    declared=None,
    answers=1,
    model=None,
    heard=True,
    live=True,
):
    """One typed question; record until `answers` spoken answers are complete. `heard=False`
    stops as soon as the answer is *generated* (its GenerationComplete): enough when only what
    was sent and said matters, and no need to wait for Gemini's assumed playback. A generation
    that only called a tool is not an answer (OpenAI ends it with reason `tool_calls`; Gemini
    closes a non-blocking call's generation before anything is said). `live=False` keeps the
    answer off the page's speaker (another session of the provider has it)."""
    tools = declared if declared is not None else registry.tools
    config = SessionConfig(instructions=instructions, model=model, tools=tools)
    end = ev.TurnComplete if heard else ev.GenerationComplete
    run = Run(provider)
    async with (
        connect(
            provider,
            config,
            player=lab.speaker(provider) if live else None,
            **lab.connect_kwargs(provider),
        ) as session,
        ToolDispatcher(session, registry) as dispatcher,
    ):
        await session.send_text(text)
        run.sent = session.now()
        done, said = 0, False
        async with asyncio.timeout(20):
            async for event in dispatcher.run():
                run.events.append(event)
                if isinstance(event, ev.OutputTranscript) and event.final:
                    said = True
                elif isinstance(event, end) and said and event.reason != "tool_calls":
                    done, said = done + 1, False
                    if done >= answers:
                        break
        run.records, run.frames = list(dispatcher.records), list(session.frames)
    return run


def show(run, label=None):
    print(f"--- {label or run.provider}")
    for call in run.calls():
        print(f"  {call.t - run.sent:5.2f} s  ToolCall {call.name}({call.arguments})")
    for r in run.records:
        extra = "".join(
            f" {k}={v}"
            for k, v in (("will_continue", r.will_continue), ("scheduling", r.scheduling))
            if v is not None
        )
        print(
            f"  {r.t - run.sent:5.2f} s  sent {r.kind:<11} via {r.route:<12}{extra} {json.dumps(r.output)}"
        )
    for text in run.said():
        print(f"  model: {text}")


# %% [markdown]
# ## Parallel calls
#
# Two tools that each take 0.8 s, asked for in one sentence. The model issues **both calls in
# one turn**; the dispatcher starts both at once, so the results go back after ~0.8 s, not
# 1.6 s. Each tool records when it really ran. Both providers run at the same time.

# %%
LATENCY = 0.8
spans = {}  # provider -> [(tool, start, end)] on the monotonic clock (the session clock too)


def parallel_registry(provider):
    registry = ToolRegistry()

    @registry.tool
    async def get_weather(city: str) -> dict:
        "Get the current weather for a city."
        start = time.monotonic()
        await asyncio.sleep(LATENCY)
        spans[provider].append(("get_weather", start, time.monotonic()))
        return {"city": city, "temp_c": 21, "condition": "sunny"}

    @registry.tool
    async def get_time(city: str) -> dict:
        "Get the local time in a city."
        start = time.monotonic()
        await asyncio.sleep(LATENCY)
        spans[provider].append(("get_time", start, time.monotonic()))
        return {"city": city, "time": "18:04"}

    return registry


QUESTION = "what is the weather in paris and what time is it in tokyo"


async def parallel(provider):
    spans[provider] = []
    return await ask(provider, parallel_registry(provider), QUESTION, heard=False)


with lab.timed("both providers"):
    runs = dict(zip(lab.PROVIDERS, await asyncio.gather(*map(parallel, lab.PROVIDERS))))

# %% tags=["nbval-ignore-output"]
for run in runs.values():
    show(run)

# %%
for provider, run in runs.items():
    results_at = max(r.t for r in run.records) - min(s for _, s, _ in spans[provider])
    lab.check(
        len(run.calls()) == 2 and results_at < 1.5 * LATENCY,
        f"{provider}: two calls in one turn ran concurrently",
        f"results sent {results_at:.2f} s after the first tool started",
    )
    lab.check(
        any("21 degrees" in s for s in run.said()) and any("18:04" in s for s in run.said()),
        f"{provider}: the answer uses both results",
        emulator_only=True,
    )

# %% [markdown]
# The same batch on the wire: OpenAI gets one `conversation.item.create`
# (`function_call_output`) **per call** and then **one** `response.create`; Gemini gets **one**
# `toolResponse` holding both results and answers on its own.

# %%
after_calls = {}
for provider, run in runs.items():
    first_call = run.calls()[0].t
    after_calls[provider] = [
        frame_type(f) + (f" ({f['item']['type']})" if "item" in f else "")
        for d, f, t in run.frames
        if d == "send" and t >= first_call
    ]
    print(f"{provider:7} sent after the calls: {after_calls[provider]}")
lab.check(
    after_calls["openai"]
    == ["conversation.item.create (function_call_output)"] * 2 + ["response.create"],
    "OpenAI: one output item per call, then one response.create",
)
lab.check(after_calls["gemini"] == ["toolResponse"], "Gemini: one toolResponse for the batch")

# %%
fig, ax = plt.subplots(figsize=(10, 2.8))
colors = {"get_weather": "#4c72b0", "get_time": "#dd8452"}
labels, y = [], 0
for provider, run in runs.items():
    for name, start, end in sorted(spans[provider]):
        ax.barh(y, end - start, left=start - run.sent, color=colors[name], height=0.6)
        ax.text(end - run.sent + 0.02, y, name, va="center", fontsize=8)
        labels.append(provider)
        y += 1
    ax.vlines([r.t - run.sent for r in run.records], y - 2.4, y - 0.6, color="black", lw=1.5)
    answer = next(
        e.t for e in run.events if isinstance(e, ev.AudioChunk) and e.t > run.calls()[0].t
    )
    ax.scatter([answer - run.sent], [y - 1.5], marker=">", color="#55a868", zorder=3)
ax.axvline(2 * LATENCY, ls="--", color="gray", lw=1)
ax.text(2 * LATENCY, -0.7, " one after the other", fontsize=8, color="gray")
ax.set_xlim(0, 2 * LATENCY + 0.6)
ax.set_yticks(range(len(labels)), labels)
ax.invert_yaxis()
ax.set_xlabel("seconds since the question was sent")
ax.set_title(
    "tools run concurrently; black: results sent together; green: answer audio starts", fontsize=9
)
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# The speakers above played each answer as it arrived (checked where a page plays them).
# Listen again to one answer (the model's audio after the tool results):

# %%
lab.check_played_live()  # only where a browser page plays the speakers
run = runs["openai"]
after = run.calls()[0].t
pcm = b"".join(e.pcm for e in run.events if isinstance(e, ev.AudioChunk) and e.t > after)
print(run.said()[-1])
lab.play(pcm, 24000)

# %% [markdown]
# ## A tool slower than its timeout
#
# `timeout_s=0.3` on a tool that takes 1.5 s. At 0.3 s the dispatcher answers the call with a
# **placeholder** so the turn does not stall, and the model says it is still working. When the
# real result arrives, it goes back by one of two routes (chosen from `session.capabilities`):
#
# * **appended** (OpenAI, and Gemini's synchronous-tool models): the placeholder *was* the call's
#   answer, so the result is added to the conversation as a new tool-output item, and one new
#   reply is requested — only once the model is idle (OpenAI refuses a second `response.create`
#   while a reply is active; Gemini's turn is open until its assumed playback ends);
# * **continuation** (Gemini models with async tools, tool declared `behavior="non_blocking"`):
#   the placeholder goes out with `willContinue: true`, keeping the call open, and the result
#   follows on the **same call** with `willContinue: false, scheduling: WHEN_IDLE`.
#
# Three sessions, run at the same time; each waits for two answers.


# %%
def slow_registry(behavior="blocking"):
    registry = ToolRegistry()

    @registry.tool(timeout_s=0.3, behavior=behavior)
    async def get_weather(city: str) -> dict:
        "Get the current weather for a city."
        await asyncio.sleep(1.5)
        return {"city": city, "temp_c": 21, "condition": "sunny"}

    return registry


ASYNC_TOOLS_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
CASES = {
    "openai (blocking)": ("openai", "blocking", None),
    "gemini (blocking)": ("gemini", "blocking", None),
    "gemini (non_blocking)": ("gemini", "non_blocking", ASYNC_TOOLS_MODEL),
}
with lab.timed("three sessions"):
    slow = await asyncio.gather(
        *(
            ask(
                p,
                slow_registry(b),
                "what is the weather in paris",
                answers=2,
                model=m,
                heard=False,
                live=b == "blocking",
            )
            for p, b, m in CASES.values()
        )
    )
slow = dict(zip(CASES, slow))

# %% tags=["nbval-ignore-output"]
for label, run in slow.items():
    show(run, label)

# %%
for label, run in slow.items():
    kinds = [(r.kind, r.route) for r in run.records]
    print(f"{label:22} {kinds}")
    lab.check(
        kinds[0] == ("placeholder", "batch"), f"{label}: a placeholder went back at the timeout"
    )
    lab.check(
        "still working" in run.said()[0],
        f"{label}: the model said it is still working",
        emulator_only=True,
    )
    lab.check(
        "21 degrees" in " ".join(run.said()[1:]),
        f"{label}: the real result was spoken in a second reply",
        emulator_only=True,
    )
lab.check(
    [r.route for r in slow["openai (blocking)"].records] == ["batch", "appended"]
    and [r.route for r in slow["gemini (non_blocking)"].records] == ["batch", "continuation"],
    "appended on OpenAI, continuation for Gemini's non-blocking tool",
)
final = slow["gemini (non_blocking)"].records[-1]
lab.check(
    (final.will_continue, final.scheduling) == (False, "WHEN_IDLE"),
    "the continuation closes the call: willContinue false, scheduling WHEN_IDLE",
)

# %% [markdown]
# ## When things go wrong
#
# Three failures, each answered with a structured error body (`{"type", "message", ...}`; the
# codec wraps it as the provider expects) so the model can tell the user what happened:
#
# * `get_weather` raises → `exception` (type and a redacted, shortened message; never a traceback);
# * `get_time` is **declared** to the model but not registered → `unknown_tool`, listing what exists;
# * `set_timer` is called with 90 minutes, but its schema says at most 60 → `invalid_arguments`,
#   and the tool never runs. (Arguments that are not even JSON, which OpenAI can send, get the
#   same treatment.)

# %%
broken = ToolRegistry()


@broken.tool
def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    raise RuntimeError("weather service unavailable")


@broken.tool
def set_timer(minutes: Annotated[int, {"minimum": 1, "maximum": 60}]) -> dict:
    "Set a kitchen timer."
    return {"ok": True}


get_time = Tool.from_schema(
    "get_time",
    "Get the local time in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
declared = (*broken.tools, get_time)  # what the model is told about
questions = [QUESTION, "set a timer for ninety minutes"]
with lab.timed("four sessions"):
    failures = await asyncio.gather(
        *(
            ask(p, broken, q, declared=declared, heard=False, live=q == QUESTION)
            for p in lab.PROVIDERS
            for q in questions
        )
    )

# %% tags=["nbval-ignore-output"]
for run in failures:
    show(run)

# %%
for run in failures:
    errors = sorted(r.output["type"] for r in run.records if r.kind == "error")
    print(f"{run.provider:7} {[c.name for c in run.calls()]} -> {errors}")
    lab.check(
        errors and len(errors) == len(run.calls()),
        f"{run.provider}: every failed call got an error back",
    )
    lab.check(bool(run.said()), f"{run.provider}: and the model still answered: no hung turn")
kinds = {r.output["type"] for run in failures for r in run.records if r.kind == "error"}
lab.check(
    kinds == {"exception", "unknown_tool", "invalid_arguments"}, "all three kinds of failure seen"
)

# %% [markdown]
# ## The acknowledgement gap
#
# A tool round trip is **silent**: the model stops, your tool runs, the model starts again. The
# user hears nothing for the tool's whole latency — and wonders whether the assistant hung up.
#
# `acknowledgement_instructions(base)` adds one sentence asking the model to say what it is
# about to do *before* it calls a tool. That sentence plays while the tool runs.
# `silent_gap_ms(events)` measures the silence a listener hears: audio placed on a player
# timeline (each chunk plays for its real duration from its arrival, or from when the audio
# before it ends), from the end of the audio before the call to the start of the audio after
# it. Four sessions at once: each provider with and without the acknowledgement.

# %%
print(acknowledgement_instructions(BRIEF))
TOOL_S = 1.0
slow_tool = ToolRegistry()


@slow_tool.tool
async def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    await asyncio.sleep(TOOL_S)
    return {"city": city, "temp_c": 21, "condition": "sunny"}


async def gap(provider, ack):
    instructions = acknowledgement_instructions(BRIEF) if ack else BRIEF
    run = await ask(
        provider,
        slow_tool,
        "what is the weather in paris",
        instructions=instructions,
        heard=False,
        live=ack,
    )
    return (provider, ack), run


with lab.timed("four sessions"):
    ack_runs = dict(
        await asyncio.gather(*(gap(p, a) for p in lab.PROVIDERS for a in (False, True)))
    )
gaps = {key: silent_gap_ms(run.events, turn_ends=[run.sent])[0] for key, run in ack_runs.items()}

# %% tags=["nbval-ignore-output"]
for (provider, ack), run in ack_runs.items():
    print(
        f"{provider:7} ack={ack!s:5} gap {gaps[provider, ack]:6.0f} ms   {' / '.join(run.said())}"
    )

# %%
fig, ax = plt.subplots(figsize=(6.5, 3))
width = 0.38
for i, ack in enumerate((False, True)):
    xs = [p + (i - 0.5) * width for p in range(len(lab.PROVIDERS))]
    values = [gaps[p, ack] for p in lab.PROVIDERS]
    color = "#55a868" if ack else "#c44e52"
    label = "with acknowledgement" if ack else "without"
    bars = ax.bar(xs, values, width, label=label, color=color)
    ax.bar_label(bars, fmt="%.0f ms", fontsize=8)
ax.axhline(TOOL_S * 1000, ls=":", color="gray", lw=1)
ax.text(1.45, TOOL_S * 1000 + 10, "tool latency", fontsize=7, color="gray", ha="right", va="bottom")
ax.set_xticks(range(len(lab.PROVIDERS)), lab.PROVIDERS)
ax.set_ylabel("silence heard (ms)")
ax.legend(fontsize=8, loc="center right")
ax.set_title("silence around a 1 s tool call", fontsize=10)
fig.tight_layout()
lab.show_figure(fig)

# %% [markdown]
# Without an acknowledgement the user hears the whole tool latency plus the time to start the
# reply. With one, the preamble is still playing when the answer arrives (the preamble was
# *generated* in a fraction of its duration, the tool ran while it played), so the silence
# all but disappears:

# %%
for provider in lab.PROVIDERS:
    lab.check(
        gaps[provider, False] >= TOOL_S * 1000,
        f"{provider}: without a preamble the listener hears at least the tool's latency",
        f"{gaps[provider, False]:.0f} ms",
    )
    lab.check(
        gaps[provider, True] < 0.25 * gaps[provider, False],
        f"{provider}: the preamble covers most of the silence",
        f"{gaps[provider, False]:.0f} ms -> {gaps[provider, True]:.0f} ms",
        emulator_only=True,
    )

# %% [markdown]
# ## The two providers, side by side
#
# | | OpenAI Realtime | Gemini Live |
# |---|---|---|
# | declaration | flat `{"type": "function", "name", "parameters"}`, JSON Schema | `functionDeclarations[]`, `Schema` (UPPERCASE types) or `parametersJsonSchema` |
# | a call arrives as | `function_call` output items; the batch is complete at `response.done` | one `toolCall` message holding every parallel call |
# | answering | one `conversation.item.create` (`function_call_output`) per call, **then one `response.create`** | **one `toolResponse`** with all `functionResponses`; the model continues by itself |
# | the model talking while tools run | no wire mechanism; the dispatcher runs the call in the background | `behavior: NON_BLOCKING` (models with async tools) |
# | a late result | appended as a new output item + `response.create` when idle | `willContinue: true` keeps the call open; the result follows with `scheduling` `SILENT` / `WHEN_IDLE` / `INTERRUPT` |
# | cancellation | the response is cancelled (barge-in) | `toolCallCancellation` with the call ids |
#
# Same dispatcher code on both: the differences live in the codecs and in `capabilities`
# (`non_blocking_tools`), never in an `if provider == ...`.
