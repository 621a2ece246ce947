"""ipywidgets panels for the notebooks.

The panels keep their logic in plain methods (`recompute`, `render_png`) that tests call
directly, so a slider's effect is tested without a browser; the widgets only wire values in and
pictures out. ipywidgets and matplotlib are imported lazily: importing realtimelab never needs
them. `TalkPanel` (talk to a model through the browser's microphone and speakers) lives in
`talk_panel.py` and is re-exported here with the other panels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtimelab.providers.registry import specs
from realtimelab.talk_panel import TalkPanel as TalkPanel
from realtimelab.vad import (
    Segment,
    SegmentScore,
    VadParams,
    detect_segments,
    frame_levels,
    segment_scores,
    speech_probability,
)


def vad_presets() -> dict[str, VadParams]:
    """Starting points the VAD panel offers: every registered provider's own settings, as the
    kit's detector reads them (`ProviderSpec.vad_presets`), in registration order."""
    return {label: p for spec in specs() for label, p in spec.vad_presets.items()}


@dataclass(frozen=True)
class VadResult:
    params: VadParams
    segments: tuple[Segment, ...]
    score: SegmentScore


class VadExplorer:
    """Sliders for the VAD parameters over one recording, re-plotting segments as they move.

    The recording's speech probability per frame, the threshold line, the labelled (true)
    segments and the detected ones are drawn on one time axis, so a learner sees *why* two
    utterances merge when the silence duration is longer than the pause between them.
    """

    def __init__(
        self,
        pcm: bytes,
        rate: int,
        truth: Sequence[Segment] = (),
        *,
        params: VadParams | None = None,
        frame_ms: int = 20,
        title: str = "",
    ) -> None:
        self.pcm = pcm
        self.rate = rate
        self.truth = tuple(truth)
        self.frame_ms = frame_ms
        self.title = title
        self.duration_ms = int(len(pcm) / 2 / rate * 1000)
        self.levels = frame_levels(pcm, rate, frame_ms)
        self.probability = speech_probability(self.levels)
        self.params = params or VadParams()
        self.result = self.recompute()
        self._widget: Any = None

    def recompute(self, params: VadParams | None = None) -> VadResult:
        """Run the detector with `params` (or the current ones); the slider callback."""
        if params is not None:
            self.params = params
        segments = tuple(detect_segments(self.pcm, self.rate, self.params, self.frame_ms))
        score = segment_scores(segments, self.truth, self.duration_ms)
        self.result = VadResult(self.params, segments, score)
        return self.result

    def summary(self) -> str:
        s = self.result.score
        return (
            f"{s.detected_count} turns detected, {s.true_count} spoken · "
            f"accuracy {s.accuracy:.1%} · precision {s.precision:.1%} · recall {s.recall:.1%}"
        )

    def figure(self) -> Any:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(11, 3.2))
        t = (np.arange(len(self.probability)) + 0.5) * self.frame_ms / 1000
        ax.plot(t, self.probability, color="#4c72b0", lw=0.9, label="speech probability")
        ax.axhline(
            self.params.threshold,
            color="#c44e52",
            ls="--",
            lw=1,
            label=f"threshold {self.params.threshold:.2f}",
        )
        for seg in self.truth:
            ax.axvspan(
                seg.start_ms / 1000,
                seg.end_ms / 1000,
                ymin=0.90,
                ymax=1.0,
                color="#55a868",
                alpha=0.9,
            )
        for seg in self.result.segments:
            ax.axvspan(
                seg.start_ms / 1000,
                seg.end_ms / 1000,
                ymin=0.0,
                ymax=0.86,
                color="#dd8452",
                alpha=0.25,
            )
        ax.set_xlim(0, self.duration_ms / 1000)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("seconds")
        ax.set_ylabel("P(speech)")
        p = self.params
        ax.set_title(
            (self.title + " — " if self.title else "")
            + f"silence {p.silence_duration_ms} ms, min speech {p.min_speech_ms} ms · "
            + "green = spoken (truth), orange = detected",
            fontsize=10,
        )
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
        fig.tight_layout()
        return fig

    def render_png(self) -> bytes:
        import matplotlib.pyplot as plt

        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        return buf.getvalue()

    def widget(self) -> Any:
        """The interactive panel: preset menu, four sliders, the plot and a one-line score."""
        import ipywidgets as w

        p = self.params
        style = {"description_width": "150px"}
        layout = w.Layout(width="520px")
        self._presets = vad_presets()
        self.preset = w.Dropdown(
            options=list(self._presets), description="start from", style=style, layout=layout
        )
        self.threshold = w.FloatSlider(
            value=p.threshold,
            min=0.05,
            max=0.95,
            step=0.05,
            description="threshold",
            style=style,
            layout=layout,
        )
        self.prefix = w.IntSlider(
            value=p.prefix_padding_ms,
            min=0,
            max=1000,
            step=20,
            description="prefix_padding_ms",
            style=style,
            layout=layout,
        )
        self.silence = w.IntSlider(
            value=p.silence_duration_ms,
            min=100,
            max=2000,
            step=50,
            description="silence_duration_ms",
            style=style,
            layout=layout,
        )
        self.min_speech = w.IntSlider(
            value=p.min_speech_ms,
            min=0,
            max=400,
            step=20,
            description="min_speech_ms",
            style=style,
            layout=layout,
        )
        self.image = w.Image(value=self.render_png(), format="png")
        self.image.add_class("vad-plot")
        self.label = w.HTML(self.summary())
        for slider in (self.threshold, self.prefix, self.silence, self.min_speech):
            slider.observe(self._on_slider, names="value")
        self.preset.observe(self._on_preset, names="value")
        self._widget = w.VBox(
            [
                self.preset,
                self.threshold,
                self.prefix,
                self.silence,
                self.min_speech,
                self.label,
                self.image,
            ]
        )
        return self._widget

    def _on_slider(self, _change: object = None) -> None:
        self.recompute(
            VadParams(
                threshold=round(float(self.threshold.value), 2),
                prefix_padding_ms=int(self.prefix.value),
                silence_duration_ms=int(self.silence.value),
                min_speech_ms=int(self.min_speech.value),
                idle_timeout_ms=self.params.idle_timeout_ms,
            )
        )
        self.image.value = self.render_png()
        self.label.value = self.summary()

    def _on_preset(self, change: dict[str, Any]) -> None:
        p = self._presets[change["new"]]
        # Setting the sliders fires _on_slider for each; the last call sees all new values.
        self.threshold.value = p.threshold
        self.prefix.value = p.prefix_padding_ms
        self.silence.value = p.silence_duration_ms
        self.min_speech.value = p.min_speech_ms
