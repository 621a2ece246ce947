"""A tiny, clearly local "web search" so grounding can be seen offline.

Why: Gemini Live runs Google Search itself when a session declares the `googleSearch` tool,
answers from what it found and sends `groundingMetadata` (the queries it ran, the pages it used,
which part of the answer each page supports). A learner cannot see that shape without a key
and the network, so the emulator answers a handful of questions from this fixed corpus instead.

Everything here is labelled as the emulator's: every page lives under the reserved `.invalid`
top-level domain (RFC 2606, it can never resolve) at `emulator.realtimelab.invalid`, and every
title starts with "realtimelab emulator corpus". The answers are short, true, and do not age;
the corpus says plainly that it has no news.

The module is provider-neutral: `search_corpus(text)` returns a `Grounding` (the query, the
answer to speak, its sources); each dialect decides how to put it on its wire. Matching is
deliberately simple (every keyword group of an entry must be present in the user's words), so
tests and learners can predict which questions are "searched".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CORPUS", "DOMAIN", "Entry", "Grounding", "Source", "search_corpus"]

DOMAIN = "emulator.realtimelab.invalid"
_TITLE = "realtimelab emulator corpus: "


@dataclass(frozen=True)
class Source:
    """One page of the corpus (a `web` grounding chunk)."""

    uri: str
    title: str

    @property
    def domain(self) -> str:
        return DOMAIN


@dataclass(frozen=True)
class Entry:
    """A question the corpus answers: every group in `keywords` must match one of its words."""

    query: str
    keywords: tuple[frozenset[str], ...]
    answer: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Grounding:
    """A search hit: what was searched, what to say, and where it came from."""

    query: str
    answer: str
    sources: tuple[Source, ...]


def _page(slug: str, title: str) -> Source:
    return Source(f"https://{DOMAIN}/search/{slug}", _TITLE + title)


def _words(*alternatives: str) -> frozenset[str]:
    return frozenset(alternatives)


CORPUS: tuple[Entry, ...] = (
    Entry(
        query="eiffel tower height and completion date",
        keywords=(_words("eiffel"),),
        answer=(
            "The Eiffel Tower in Paris was completed in 1889 and is about 330 metres tall "
            "including its antennas."
        ),
        sources=(_page("eiffel-tower", "Eiffel Tower"),),
    ),
    Entry(
        query="highest mountain in the world",
        keywords=(_words("highest", "tallest", "biggest"), _words("mountain", "peak")),
        answer="Mount Everest is the highest mountain above sea level, at 8,849 metres.",
        sources=(
            _page("mount-everest", "Mount Everest"),
            _page("highest-mountains", "The highest mountains"),
        ),
    ),
    Entry(
        query="speed of light in a vacuum",
        keywords=(_words("speed", "fast"), _words("light")),
        answer="Light travels at 299,792 kilometres per second in a vacuum.",
        sources=(_page("speed-of-light", "Speed of light"),),
    ),
    Entry(
        query="largest ocean on earth",
        keywords=(_words("largest", "biggest"), _words("ocean", "oceans")),
        answer="The Pacific is the largest ocean, covering about a third of the Earth's surface.",
        sources=(_page("pacific-ocean", "Pacific Ocean"),),
    ),
    Entry(
        query="who invented the telephone",
        keywords=(_words("invented", "inventor", "invent"), _words("telephone", "phone")),
        answer=(
            "Alexander Graham Bell received the first patent for the telephone in 1876; "
            "Elisha Gray and Antonio Meucci worked on similar devices."
        ),
        sources=(_page("telephone", "Invention of the telephone"),),
    ),
    Entry(
        query="what is realtimelab",
        keywords=(_words("realtimelab"),),
        answer=(
            "realtimelab is a Jupyter-based kit to learn, compare and test realtime voice APIs, "
            "with a local emulator that speaks their wire protocols."
        ),
        sources=(_page("realtimelab", "realtimelab"),),
    ),
    Entry(
        query="latest news today",
        keywords=(_words("news", "headlines"),),
        answer=(
            "I can't read today's news here: the emulator's search corpus is a handful of "
            "fixed local pages, with no live results."
        ),
        sources=(_page("about", "About this corpus"),),
    ),
)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def search_corpus(text: str) -> Grounding | None:
    """The corpus entry the words ask about, or None (first match in corpus order)."""
    words = _tokens(text)
    if not words:
        return None
    for entry in CORPUS:
        if all(group & words for group in entry.keywords):
            return Grounding(entry.query, entry.answer, entry.sources)
    return None
