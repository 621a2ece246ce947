"""Cells of notebooks/02_tool_calling.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 02 · Tool calling

A realtime model can stop talking, ask **your code** to run a function, and carry on with the
result. The protocol is simple; getting it right is not. The classic failure is a **hung
turn**: the model asked for a tool, something went wrong, nothing went back — and the model
waits forever. This notebook covers:

1. **declaring** tools from Python functions (`@tool`) and what each provider receives;
2. the **`ToolDispatcher`**: parallel calls, timeouts with placeholders, errors the model can
   read and talk about;
3. the **acknowledgement gap**: the silence while a tool runs, and how one spoken sentence
   before the call hides it.
"""),
("code", r"""
%matplotlib inline
import asyncio, json, time
from dataclasses import dataclass, field
from typing import Annotated, Literal
import matplotlib.pyplot as plt
from realtimelab import lab, connect, SessionConfig
from realtimelab import events as ev
from realtimelab.schema import tool, Tool, SchemaError, wire_tool
from realtimelab.providers.gemini.tools import to_declaration as gemini_declaration
from realtimelab.tools import (ToolDispatcher, ToolRegistry, acknowledgement_instructions,
                               silent_gap_ms)
from realtimelab.observe import frame_type

lab.banner()
"""),
("md", r"""
> **Emulator or real provider — the switch.** Sessions here are opened with
> `connect(provider, config, **lab.connect_kwargs(provider))`: the local emulator while no key is
> set, the real service once `OPENAI_API_KEY` / `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) is in the
> environment that started Jupyter (then restart the kernel). The banner above says which one
> each provider uses — it names the variable, never the key. Real sessions cost money and real
> models answer freely, so transcripts will differ; frames and events keep their shapes.
"""),
("md", r"""
## Declaring a tool

`@tool` reads the signature, the type hints and the docstring, and builds a `Tool` holding
plain **JSON Schema**. `Literal` becomes an `enum`, `Annotated[x, "text"]` a description,
`Annotated[int, {"minimum": ...}]` a constraint, a default makes an argument optional. The
decorated function stays callable.
"""),
("code", r"""
@tool
def get_weather(city: Annotated[str, "city name, e.g. Paris"],
                units: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    "Get the current weather for a city."
    return {"city": city, "temp_c": 21, "condition": "sunny"}

print(get_weather)
print(json.dumps(get_weather.parameters, indent=1))
print("still a function:", get_weather(city="Paris"))
"""),
("md", r"""
Each provider wants its own wire shape. OpenAI's GA Realtime API takes a **flat** function tool
(`type`, `name`, `parameters` side by side, lowercase JSON Schema). Gemini takes a
**`functionDeclaration`** whose `parameters` are an OpenAPI-3.0 `Schema` with UPPERCASE types.
Each translation lives in its provider's folder (`realtimelab/providers/<name>/tools.py`);
`wire_tool(tool, provider)` shows what that provider's codec sends:
"""),
("code", r"""
print("OpenAI session.tools[]:")
print(json.dumps(wire_tool(get_weather, "openai"), indent=1))
print("\nGemini setup.tools[].functionDeclarations[]:")
print(json.dumps(wire_tool(get_weather, "gemini"), indent=1))
"""),
("md", r"""
Gemini's `Schema` cannot say everything JSON Schema can. A `dict[str, int]` argument needs
`additionalProperties`, which the Gemini Developer API rejects. Instead of silently dropping
the constraint (and letting the model send anything), the Schema translator
(`realtimelab.providers.gemini.tools.to_declaration`) raises `SchemaError` naming the tool, the
keyword and where it is. The way out is `json_schema=True`, which sends the JSON Schema
untouched as `parametersJsonSchema` — and that is what the Gemini codec falls back to by itself:
"""),
("code", r"""
@tool
def set_stock(counts: Annotated[dict[str, int], "item name -> how many are left"]) -> str:
    "Record how many of each item are in stock."
    return "ok"

print("OpenAI:", json.dumps(wire_tool(set_stock, "openai")["parameters"]))
with lab.quiet_errors():
    gemini_declaration(set_stock)
print("Gemini, json_schema=True:", json.dumps(gemini_declaration(set_stock, json_schema=True)))
print("what the Gemini codec sends:", json.dumps(wire_tool(set_stock, "gemini")))
"""),
("md", r"""
## The dispatcher

`ToolDispatcher(session, registry)` watches the event stream and answers every `ToolCall`:

* calls of one turn run **in parallel** (async tools as tasks, sync tools in a thread) and are
  answered **together** — every outcome goes back, always;
* a tool slower than its `timeout_s` is first answered with a **placeholder**
  (`{"status": "pending", ...}`), and the real result follows when it is ready;
* an unknown tool, arguments that fail the schema, or an exception become a **structured
  error** the model reads (and can say out loud) instead of a hung turn.

`tools.run()` yields every event of the session while it dispatches in the background. The
helper below sends one typed question and records everything until the model has spoken
`answers` replies after its tool calls (bounded by a timeout, so no cell can hang).
"""),
("code", r"""
BRIEF = "You are a helpful voice assistant. Be brief."


@dataclass
class Run:
    provider: str
    events: list = field(default_factory=list)
    records: list = field(default_factory=list)   # what the dispatcher sent (DispatchRecord)
    frames: list = field(default_factory=list)    # wire frames (direction, frame, t)
    sent: float = 0.0                             # when the question went out (session clock)

    def said(self):
        return [e.text for e in self.events if isinstance(e, ev.OutputTranscript) and e.final]

    def calls(self):
        return [e for e in self.events if isinstance(e, ev.ToolCall)]

    def answered(self, n):
        calls = self.calls()
        if not calls:
            return False
        after = [e for e in self.events
                 if isinstance(e, ev.OutputTranscript) and e.final and e.t > calls[0].t]
        return len(after) >= n


async def ask(provider, registry, text, *, instructions=BRIEF, declared=None, answers=1,
              model=None, timeout=20):
    config = SessionConfig(instructions=instructions, model=model,
                           tools=declared if declared is not None else registry.tools)
    run = Run(provider)
    async with connect(provider, config, **lab.connect_kwargs(provider)) as session, \
               ToolDispatcher(session, registry) as tools:
        await session.send_text(text)
        run.sent = session.now()
        try:
            async with asyncio.timeout(timeout):
                async for event in tools.run():
                    run.events.append(event)
                    if isinstance(event, ev.TurnComplete) and run.answered(answers):
                        break
        except TimeoutError:
            print(f"{provider}: no complete answer within {timeout} s")
        run.records, run.frames = list(tools.records), list(session.frames)
    return run


def show(run):
    print(f"--- {run.provider}")
    for call in run.calls():
        print(f"  {call.t - run.sent:5.2f} s  ToolCall {call.name}({call.arguments})")
    for r in run.records:
        extra = "".join(f" {k}={v}" for k, v in (("will_continue", r.will_continue),
                                                 ("scheduling", r.scheduling)) if v is not None)
        print(f"  {r.t - run.sent:5.2f} s  sent {r.kind:<11} via {r.route:<12}{extra} {json.dumps(r.output)}")
    for text in run.said():
        print(f"  model: {text}")
"""),
("md", r"""
## Parallel calls

Two tools that each take 0.8 s, asked for in one sentence. The model issues **both calls in
one turn**; the dispatcher starts both at once, so the answer comes after ~0.8 s, not 1.6 s.
Each tool records when it really ran.
"""),
("code", r"""
LATENCY = 0.8
spans = []          # (tool, start, end) on the monotonic clock (the session clock too)
parallel = ToolRegistry()

@parallel.tool
async def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    start = time.monotonic(); await asyncio.sleep(LATENCY)
    spans.append(("get_weather", start, time.monotonic()))
    return {"city": city, "temp_c": 21, "condition": "sunny"}

@parallel.tool
async def get_time(city: str) -> dict:
    "Get the local time in a city."
    start = time.monotonic(); await asyncio.sleep(LATENCY)
    spans.append(("get_time", start, time.monotonic()))
    return {"city": city, "time": "18:04"}

QUESTION = "what is the weather in paris and what time is it in tokyo"
runs, tool_spans = {}, {}
for provider in lab.PROVIDERS:
    spans.clear()
    runs[provider] = await ask(provider, parallel, QUESTION)
    tool_spans[provider] = list(spans)
    show(runs[provider])
"""),
("md", r"""
The same batch on the wire: OpenAI gets one `conversation.item.create`
(`function_call_output`) **per call** and then **one** `response.create`; Gemini gets **one**
`toolResponse` holding both results and answers on its own.
"""),
("code", r"""
for provider, run in runs.items():
    first_call = run.calls()[0].t
    sent = [frame_type(f) + (f" ({f['item']['type']})" if "item" in f else "")
            for d, f, t in run.frames if d == "send" and t >= first_call]
    print(f"{provider:7} sent after the calls: {sent}")
"""),
("code", r"""
fig, ax = plt.subplots(figsize=(10, 2.8))
colors = {"get_weather": "#4c72b0", "get_time": "#dd8452"}
labels, y = [], 0
for provider, run in runs.items():
    for name, start, end in sorted(tool_spans[provider], key=lambda s: s[0]):
        ax.barh(y, end - start, left=start - run.sent, color=colors[name], height=0.6)
        ax.text(end - run.sent + 0.02, y, name, va="center", fontsize=8)
        labels.append(f"{provider}")
        y += 1
    sent_at = [r.t - run.sent for r in run.records]
    ax.vlines(sent_at, y - 2.4, y - 0.6, color="black", lw=1.5)
    answer = next(e.t for e in run.events if isinstance(e, ev.AudioChunk) and e.t > run.calls()[0].t)
    ax.scatter([answer - run.sent], [y - 1.5], marker=">", color="#55a868", zorder=3)
ax.axvline(2 * LATENCY, ls="--", color="gray", lw=1)
ax.text(2 * LATENCY, -0.7, " one after the other", fontsize=8, color="gray")
ax.set_xlim(0, 2 * LATENCY + 0.3)
ax.set_yticks(range(len(labels)), labels); ax.invert_yaxis()
ax.set_xlabel("seconds since the question was sent")
ax.set_title("tools run concurrently; black line: results sent together; green: answer audio starts",
             fontsize=9)
fig.tight_layout(); plt.show()
"""),
("md", r"""
Listen to one answer (the model's audio after the tool results):
"""),
("code", r"""
run = runs["openai"]
after = run.calls()[0].t
pcm = b"".join(e.pcm for e in run.events if isinstance(e, ev.AudioChunk) and e.t > after)
rate = next(e.rate for e in run.events if isinstance(e, ev.AudioChunk))
print(run.said()[-1])
lab.play(pcm, rate)
"""),
("md", r"""
## A tool slower than its timeout

`timeout_s=0.3` on a tool that takes 1.5 s. At 0.3 s the dispatcher answers the call with a
**placeholder** so the turn does not stall, and the model says it is still working. When the
real result arrives, it goes back by one of two routes (chosen from `session.capabilities`):

* **appended** (OpenAI, and Gemini's synchronous-tool models): the placeholder *was* the call's
  answer, so the result is added to the conversation as a new tool-output item, and one new
  reply is requested — only once the model is idle (OpenAI refuses a second `response.create`
  while a reply is active);
* **continuation** (Gemini models with async tools, tool declared `behavior="non_blocking"`):
  the placeholder goes out with `willContinue: true`, keeping the call open, and the result
  follows on the **same call** with `willContinue: false, scheduling: WHEN_IDLE`.
"""),
("code", r"""
def slow_registry(behavior="blocking"):
    registry = ToolRegistry()

    @registry.tool(timeout_s=0.3, behavior=behavior)
    async def get_weather(city: str) -> dict:
        "Get the current weather for a city."
        await asyncio.sleep(1.5)
        return {"city": city, "temp_c": 21, "condition": "sunny"}

    return registry

ASYNC_TOOLS_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
for provider, behavior, model in [("openai", "blocking", None), ("gemini", "blocking", None),
                                  ("gemini", "non_blocking", ASYNC_TOOLS_MODEL)]:
    run = await ask(provider, slow_registry(behavior), "what is the weather in paris",
                    answers=2, model=model)
    run.provider = f"{provider} ({behavior})"
    show(run)
"""),
("md", r"""
## When things go wrong

Three failures, each answered with a structured error body (`{"type", "message", ...}`; the
codec wraps it as the provider expects) so the model can tell the user what happened:

* `get_weather` raises → `exception` (type and a redacted, shortened message; never a traceback);
* `get_time` is **declared** to the model but not registered → `unknown_tool`, listing what exists;
* `set_timer` is called with 90 minutes, but its schema says at most 60 → `invalid_arguments`,
  and the tool never runs. (Arguments that are not even JSON, which OpenAI can send, get the
  same treatment.)
"""),
("code", r"""
broken = ToolRegistry()

@broken.tool
def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    raise RuntimeError("weather service unavailable")

@broken.tool
def set_timer(minutes: Annotated[int, {"minimum": 1, "maximum": 60}]) -> dict:
    "Set a kitchen timer."
    return {"ok": True}

get_time = Tool.from_schema("get_time", "Get the local time in a city.",
                            {"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]})
declared = (*broken.tools, get_time)   # what the model is told about
for provider in lab.PROVIDERS:
    for question in (QUESTION, "set a timer for ninety minutes"):
        run = await ask(provider, broken, question, declared=declared)
        show(run)
"""),
("md", r"""
## The acknowledgement gap

A tool round trip is **silent**: the model stops, your tool runs, the model starts again. The
user hears nothing for the tool's whole latency — and wonders whether the assistant hung up.

`acknowledgement_instructions(base)` adds one sentence asking the model to say what it is
about to do *before* it calls a tool. That sentence plays while the tool runs.
`silent_gap_ms(events)` measures the silence a listener hears: audio placed on a player
timeline (each chunk plays for its real duration), from the end of the audio before the call
to the start of the audio after it.
"""),
("code", r"""
print(acknowledgement_instructions(BRIEF))

slow = ToolRegistry()

@slow.tool
async def get_weather(city: str) -> dict:
    "Get the current weather for a city."
    await asyncio.sleep(1.0)
    return {"city": city, "temp_c": 21, "condition": "sunny"}

gaps = {}
for provider in lab.PROVIDERS:
    for ack in (False, True):
        instructions = acknowledgement_instructions(BRIEF) if ack else BRIEF
        run = await ask(provider, slow, "what is the weather in paris", instructions=instructions)
        gaps[provider, ack] = silent_gap_ms(run.events, turn_ends=[run.sent])[0]
        print(f"{provider:7} ack={ack!s:5} gap {gaps[provider, ack]:6.0f} ms   {' / '.join(run.said())}")
"""),
("code", r"""
fig, ax = plt.subplots(figsize=(6.5, 3))
width = 0.38
for i, ack in enumerate((False, True)):
    xs = [p + (i - 0.5) * width for p in range(len(lab.PROVIDERS))]
    values = [gaps[p, ack] for p in lab.PROVIDERS]
    bars = ax.bar(xs, values, width, label="with acknowledgement" if ack else "without",
                  color="#55a868" if ack else "#c44e52")
    ax.bar_label(bars, fmt="%.0f ms", fontsize=8)
ax.axhline(1000, ls=":", color="gray", lw=1)
ax.text(1.45, 1010, "tool latency", fontsize=7, color="gray", ha="right", va="bottom")
ax.set_xticks(range(len(lab.PROVIDERS)), lab.PROVIDERS)
ax.set_ylabel("silence heard (ms)"); ax.legend(fontsize=8, loc="center right")
ax.set_title("silence around a 1 s tool call", fontsize=10)
fig.tight_layout(); plt.show()
"""),
("md", r"""
Without an acknowledgement the user hears the whole tool latency plus the time to start the
reply. With one, the preamble's audio covers most or all of it.

## The two providers, side by side

| | OpenAI Realtime | Gemini Live |
|---|---|---|
| declaration | flat `{"type": "function", "name", "parameters"}`, JSON Schema | `functionDeclarations[]`, `Schema` (UPPERCASE types) or `parametersJsonSchema` |
| a call arrives as | `function_call` output items; the batch is complete at `response.done` | one `toolCall` message holding every parallel call |
| answering | one `conversation.item.create` (`function_call_output`) per call, **then one `response.create`** | **one `toolResponse`** with all `functionResponses`; the model continues by itself |
| the model talking while tools run | no wire mechanism; the dispatcher runs the call in the background | `behavior: NON_BLOCKING` (models with async tools) |
| a late result | appended as a new output item + `response.create` when idle | `willContinue: true` keeps the call open; the result follows with `scheduling` `SILENT` / `WHEN_IDLE` / `INTERRUPT` |
| cancellation | the response is cancelled (barge-in) | `toolCallCancellation` with the call ids |

Same dispatcher code on both: the differences live in the codecs and in `capabilities`
(`non_blocking_tools`), never in an `if provider == ...`.
"""),
]
