# %% [markdown]
# # 06 · A/B routing and cost
#
# Because one `RealtimeSession` works over both providers, *which* provider serves a conversation
# can be decided per session — by experiment, by price, by measured speed, or by how urgent the
# request is. `realtimelab.router.Router` opens each session through a **policy**, watches its
# events, and records what the session measured (TTFB) and cost (tokens × list price).
#
# | policy | picks | state it uses |
# |---|---|---|
# | `ABSplit(weights)` | at random, weighted; reproducible with the router's `seed` | the seeded RNG |
# | `Cheapest()` | lowest list price for a reference voice turn | `data/prices.json` |
# | `LowestTTFB(window)` | lowest mean TTFB over recent sessions (tries each provider once first) | the router's records |
# | `ByUrgency(urgent, relaxed)` | per request: urgent → one provider, the rest → the other | the `urgency=` you pass |
#
# All sessions here use a short typed turn, to keep the notebook fast.

# %%
# %matplotlib inline
import asyncio
import copy

from IPython.display import HTML, display

from realtimelab import SessionConfig, connect, lab
from realtimelab import events as ev
from realtimelab.metrics import cost, load_prices, price_for
from realtimelab.router import REFERENCE_TURN, ABSplit, ByUrgency, Cheapest, LowestTTFB, Router

lab.banner()

# %% [markdown]
# ## Where sessions go, and a simulated network
#
# A router calls `connect(provider, config, ...)` for the provider its policy chose. We hand it a
# `connect` of our own that adds each provider's destination. Against the emulator we also give
# Gemini's emulator **80 ms of extra latency on every server frame** (`EmulatorConfig.latency_ms`)
# — an arbitrary, made-up number, so that `LowestTTFB` has a difference to find. Swap it to OpenAI
# and watch the router follow. With a real key set, that provider goes to the real service and
# nothing is simulated.

# %%
SIMULATED_LATENCY_MS = {"openai": 0, "gemini": 80}  # emulator only; edit freely

ROUTES = {}
for provider in lab.PROVIDERS:
    if lab.backend(provider).mode == "emulator" and SIMULATED_LATENCY_MS[provider]:
        ROUTES[provider] = {"url": lab.extra_emulator(latency_ms=SIMULATED_LATENCY_MS[provider])}
    else:
        ROUTES[provider] = lab.connect_kwargs(provider)  # the lab emulator, or {} = real service
    print(f"{provider}: {ROUTES[provider].get('url', 'real service')}")


def routed_connect(provider, config, **kwargs):
    return connect(provider, config, **ROUTES[provider], **kwargs)


config = SessionConfig(instructions="You are a friendly assistant. Be brief.")


async def one_session(router, text="Hello there!", urgency=None, timeout=20):
    "Open a routed session, take one typed turn, return the provider that served it."
    async with router.session(config, urgency=urgency) as session:
        await session.send_text(text)
        async with asyncio.timeout(timeout):
            async for event in session:
                if isinstance(event, ev.TurnComplete) and event.reason != "tool_calls":
                    break
        return session.provider


def records_table(router):
    rows = [
        [
            r.index,
            r.provider,
            repr(r.urgency),
            "-" if r.ttfb_ms is None else f"{r.ttfb_ms:.0f} ms",
            "-" if r.cost_usd is None else f"{r.cost_usd:.5f}",
            r.error or "",
        ]
        for r in router.records
    ]
    return lab.html_table(rows, ["#", "provider", "urgency", "TTFB", "cost USD", "error"])


# %% [markdown]
# ## A/B split, seeded
#
# A 50/50 split over 10 sessions. The router's `seed` makes the assignment reproducible: the
# same seed replays the same sequence of choices — what you want when you compare two runs of an
# experiment. (Ten coin flips are rarely five/five.)

# %%
ab = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), connect=routed_connect, seed=7)
served = await asyncio.gather(*(one_session(ab) for _ in range(10)))  # ten callers at once
print("served by:", served)

replay = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), seed=7)
lab.check(
    [replay.choose() for _ in range(10)] == list(served), "the same seed replays the same choices"
)
display(HTML(records_table(ab)))

# %% [markdown]
# `summary()` aggregates per provider; `plot()` draws TTFB and total cost side by side.

# %%
summary = ab.summary()
cols = list(next(iter(summary.values())))


def fmt(column, v):
    if isinstance(v, float) and column.endswith("_ms"):
        return f"{v:.0f} ms"
    return f"{v:.6f}" if isinstance(v, float) else v


display(
    HTML(
        lab.html_table(
            [[p, *(fmt(c, d[c]) for c in cols)] for p, d in summary.items()], ["provider", *cols]
        )
    )
)
fig = ab.plot()
display(fig)

# %% [markdown]
# ## What a session costs
#
# Cost is tokens × list price. Each `TurnComplete` carries the provider's usage (audio and text
# tokens counted separately — audio is roughly 8–16× dearer per token), and
# `realtimelab.metrics.cost` prices it with **`data/prices.json`**: an *editable example* table of
# USD per million tokens, dated, per provider and model. Prices change; check the providers'
# pricing pages and edit the file (or point `$REALTIMELAB_PRICES` at your own) before trusting
# any total.

# %%
prices = load_prices()
print(prices["_date"], "|", prices["_units"])
rows = []
for provider in lab.PROVIDERS:
    for model, p in prices[provider]["models"].items():
        default = " (default)" if model == prices[provider]["default"] else ""
        rows.append(
            [
                provider,
                model + default,
                p["audio_in"],
                p["audio_out"],
                p["text_in"],
                p["text_out"],
                p["cached_in"],
            ]
        )
display(
    HTML(
        lab.html_table(
            rows, ["provider", "model", "audio in", "audio out", "text in", "text out", "cached in"]
        )
    )
)

# %% [markdown]
# One session's cost, by hand and by `cost()` — the model comes from the session itself
# (`session.created` / `setup`), so a dated snapshot name resolves to its family's price:

# %%
for provider in lab.PROVIDERS:
    record = next(r for r in ab.records if r.provider == provider and r.turns)
    turn = record.turns[0]
    u, (name, p) = turn.usage, price_for(provider, turn.model)
    by_hand = (
        u.input_audio_tokens * p.audio_in
        + u.input_text_tokens * p.text_in
        + u.output_audio_tokens * p.audio_out
        + u.output_text_tokens * p.text_out
    ) / 1e6
    print(f"{provider} session #{record.index} ({name}):")
    print(
        f"   in: {u.input_audio_tokens} audio + {u.input_text_tokens} text tokens;"
        f"  out: {u.output_audio_tokens} audio + {u.output_text_tokens} text tokens"
    )
    print(f"   by hand ${by_hand:.6f}   cost() ${cost(u, provider, turn.model):.6f}")

# %% [markdown]
# ## Cheapest
#
# `Cheapest` compares providers on a **reference turn** (`REFERENCE_TURN`: about 5 s of speech in,
# a 10 s spoken answer) under a price table. Its decision is only as good as the table: give it an
# edited copy and it changes its mind.

# %%
print("reference turn:", REFERENCE_TURN)
cheap = Router(Cheapest(), connect=routed_connect)
print(
    "estimates (USD per reference turn):",
    {p: round(v, 5) for p, v in cheap.policy.estimates().items()},
)
served = await asyncio.gather(*(one_session(cheap) for _ in range(3)))
print("served by:", served)

edited = copy.deepcopy(prices)
default = edited["gemini"]["default"]
edited["gemini"]["models"][default]["audio_out"] *= 10  # a what-if: 10x dearer audio out
what_if = Cheapest(prices=edited)
print(
    "with Gemini audio out at 10x:",
    {p: round(v, 5) for p, v in what_if.estimates().items()},
    "→",
    Router(what_if).choose(),
)

# %% [markdown]
# ## Lowest TTFB
#
# `LowestTTFB` first tries every provider once (an unmeasured provider could otherwise never be
# picked), then sends each session to the provider with the lowest mean TTFB over its last
# `window` sessions. Here it learns the simulated latency we configured above.

# %%
fast = Router(LowestTTFB(window=5), connect=routed_connect)
served = [await one_session(fast) for _ in range(8)]
print("served by:", served)
learned = fast.policy.means(fast.records)
print("mean TTFB:", {p: None if m is None else f"{m:.0f} ms" for p, m in learned.items()})
lab.check(
    all(m is not None for m in learned.values()),
    "every provider was tried and its TTFB measured",
)
slower = max(SIMULATED_LATENCY_MS, key=SIMULATED_LATENCY_MS.get)
lab.check(
    served[2:].count(slower) < len(served[2:]) / 2,
    f"after trying both, most sessions avoid {slower} (the one given extra latency)",
    emulator_only=True,
)

# %% [markdown]
# ## By urgency
#
# Some requests are interactive (a caller waiting), some are not (a batch summary). `ByUrgency`
# routes each by the `urgency=` given to `router.session(...)`. Which provider counts as the
# "urgent" one is your decision — here we reuse what `LowestTTFB` just measured. An unknown
# urgency is an error rather than a silent default:

# %%
means = fast.policy.means(fast.records)
quickest = min(means, key=lambda p: means[p] if means[p] is not None else float("inf"))
other = next(p for p in lab.PROVIDERS if p != quickest)
urgent = Router(ByUrgency(urgent=quickest, relaxed=other), connect=routed_connect)
for u in ["urgent", "batch", "interactive", None]:  # one after another: the table's order
    await one_session(urgent, urgency=u)
display(HTML(records_table(urgent)))
with lab.expect_error(ValueError):
    urgent.choose("urgnet")

# %% [markdown]
# ## All four policies
#
# Each router keeps its own records; side by side:

# %%
rows = []
for router in (ab, cheap, fast, urgent):
    for provider, d in router.summary().items():
        rows.append(
            [
                type(router.policy).__name__,
                provider,
                d["sessions"],
                d["errors"],
                "-" if d["ttfb_mean_ms"] is None else f"{d['ttfb_mean_ms']:.0f} ms",
                f"{d['cost_usd_total']:.5f}",
            ]
        )
display(
    HTML(
        lab.html_table(rows, ["policy", "provider", "sessions", "errors", "mean TTFB", "cost USD"])
    )
)

# %% [markdown]
# ## Why these milliseconds are not provider numbers
#
# Every TTFB above was measured against the **local emulator**, and it measures the emulator:
#
# - **No model runs.** The emulator's "brain" is a handful of deterministic rules and its voice is
#   espeak-ng; a real model spends hundreds of milliseconds thinking and synthesising before its
#   first audio byte.
# - **No network.** Client and server share `127.0.0.1`; a real session crosses the internet,
#   TLS and the provider's load balancers (and their queues at busy hours).
# - **The model is modelled.** The emulator's first audio comes a configured 250 ms after the
#   request, then audio is generated 4× (OpenAI) or 3× (Gemini) faster than real time
#   (`docs/emulator-timing.md`), and the latency difference between the providers here is the
#   `SIMULATED_LATENCY_MS` we *chose*.
#
# What *does* carry over is the machinery: the same router, policies, metrics and cost code work
# unchanged on real sessions, and usage arrives in each provider's own format. The emulator's
# token counts are estimates (OpenAI: 10 tokens per second of user audio, 20 of model audio;
# Gemini: 32 per second either way; text at about four characters a token — see
# `docs/emulator-usage.md`), so its costs are plausible orders of magnitude, not bills.
#
# **To measure the real services**: set `OPENAI_API_KEY` and `GEMINI_API_KEY` (or
# `GOOGLE_API_KEY`) before starting Jupyter, restart the kernel and run this notebook again —
# `lab.banner()` at the top says which provider is real. `SIMULATED_LATENCY_MS` is then ignored for
# real providers. Real sessions are billed; ten greetings cost cents, but check `data/prices.json`
# first, and use more sessions than ten (and a few hours apart) before believing a difference in
# TTFB.
