// AudioWorklet processors for realtimelab.browser_audio, loaded by browser_audio.js through
// audioWorklet.addModule (from a blob: URL, so no file server or build step is involved).
//
//   rtl-player  plays PCM16 chunks from the kernel gaplessly, resampling each chunk from its
//               source rate to the AudioContext rate, and reports how much *source* audio it
//               has actually rendered: that number, not "what was sent", is what a realtime
//               session needs to truncate an interrupted answer.
//   rtl-mic     turns the microphone (at the AudioContext rate) into PCM16 frames of 20 ms at
//               the rate the kernel asks for, with a proper low-pass: a naive decimation from
//               48 kHz to 16 kHz folds everything above 8 kHz back into the speech band.
//
// Both run on the browser's audio thread: no allocation in the steady state of process(), and
// everything posted to the main thread is small (reports) or transferred (frames).

const ZERO_CROSSINGS = 8; // per side of the sinc kernel: ~-60 dB stop band with Blackman
const TABLE_RES = 64; // kernel table points per input sample (linear interpolation between)
const tables = new Map();

// A windowed-sinc interpolation kernel for one rate ratio (out/in). Cutoff below both
// Nyquists so that upsampling removes images and downsampling removes aliases.
function sincTable(ratio) {
  const key = Math.min(1, ratio).toFixed(6);
  let t = tables.get(key);
  if (t) return t;
  const cutoff = Math.min(1, ratio) * 0.92; // fraction of the input Nyquist
  const half = ZERO_CROSSINGS / cutoff; // kernel half-width, in input samples
  const n = Math.ceil(half * TABLE_RES) + 2;
  const w = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const d = j / TABLE_RES;
    if (d >= half) break;
    const x = cutoff * d;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const u = d / half; // Blackman window, 1 at the centre, 0 at the edge
    const win = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
    w[j] = cutoff * sinc * win;
  }
  t = { half, w, reach: Math.ceil(half) };
  tables.set(key, t);
  return t;
}

// Kernel weight at distance d (in input samples) from the output position.
function weight(t, d) {
  const p = (d < 0 ? -d : d) * TABLE_RES;
  const j = p | 0;
  const w = t.w;
  if (j + 1 >= w.length) return 0;
  return w[j] + (w[j + 1] - w[j]) * (p - j);
}

// ------------------------------------------------------------------------------------------
// playback
// ------------------------------------------------------------------------------------------

// Heartbeat while idle: the kernel uses it to know the page is alive. Every message costs the
// kernel ~1-2 ms of CPU (ipykernel's per-message work), so idle pages speak once a second.
const IDLE_REPORT_MS = 1000;
const FADE_MS = 5; // a flush fades out over 5 ms instead of cutting mid-wave (no click)

class Player extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.reportFrames = Math.max(128, Math.round(((o.reportMs || 100) * sampleRate) / 1000));
    this.idleFrames = Math.round((IDLE_REPORT_MS * sampleRate) / 1000);
    this.prebufferMs = o.prebufferMs || 0;
    this.trace = !!o.trace;
    // Source samples live in one growable ring, indexed by absolute position in the stream of
    // queued audio; chunks are described by segments [start, end) with their own rate/item.
    this.ring = new Float32Array(1 << 20);
    this.mask = this.ring.length - 1;
    this.writeEnd = 0; // absolute index just after the last queued sample
    this.readPos = 0; // fractional absolute read position (the resampler's time)
    this.segs = [];
    this.playedDoneMs = 0; // source ms of segments fully played
    this.discardedMs = 0; // source ms dropped by flushes (never played)
    this.itemId = null; // item currently (or last) playing, and its played ms
    this.itemDoneMs = 0;
    this.gaps = 0; // times an item ran dry and resumed later (underruns the listener heard)
    this.lastSeq = -1;
    this.waiting = false; // pre-buffering before a start from idle
    this.waitFrames = 0;
    this.fadeLeft = 0;
    this.fadeTotal = 1;
    this.fadeEnd = 0;
    this.wasActive = false;
    this.sinceReport = 0;
    this.starts = []; // trace: [seq, arrive wall ms, first-sample render wall ms]
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(m) {
    if (m.type === "chunk") this.append(m);
    else if (m.type === "flush") this.flush(m.seq);
    else if (m.type === "config") {
      if (m.reportMs) this.reportFrames = Math.max(128, Math.round((m.reportMs * sampleRate) / 1000));
      if (m.prebufferMs !== undefined) this.prebufferMs = m.prebufferMs;
      if (m.trace !== undefined) this.trace = !!m.trace;
    }
  }

  active() {
    return this.readPos < this.writeEnd || this.fadeLeft > 0;
  }

  append(m) {
    const pcm = new Int16Array(m.pcm);
    const n = pcm.length;
    if (!n) return;
    const idle = !this.active();
    if (idle) {
      // Start cleanly: the kernel's left half must not see the tail of older audio.
      const t = sincTable(sampleRate / m.rate);
      for (let k = this.writeEnd - t.reach - 1; k < this.writeEnd; k++) this.ring[k & this.mask] = 0;
      this.readPos = this.writeEnd;
      // The first chunk of an item plays at once (no added latency). If an item runs dry and
      // resumes, its source is sending at about real time with jitter: queue prebufferMs
      // first, so that the next hiccup is absorbed instead of heard (an adaptive cushion).
      const item = m.item ?? null;
      if (item !== null && item === this.itemId && this.playedDoneMs > 0) {
        this.gaps++;
        if (this.prebufferMs > 0) {
          this.waiting = true;
          this.waitFrames = Math.round((this.prebufferMs * sampleRate) / 1000);
        }
      }
    }
    this.reserve(n);
    const ring = this.ring;
    const mask = this.mask;
    let w = this.writeEnd;
    for (let i = 0; i < n; i++) ring[(w + i) & mask] = pcm[i] / 32768;
    this.segs.push({
      start: w, end: w + n, rate: m.rate, item: m.item ?? null, seq: m.seq,
      arrive: m.arrive, started: false,
    });
    this.writeEnd = w + n;
    this.lastSeq = m.seq;
  }

  // Grow the ring (doubling) so queued audio plus the kernel's history always fit.
  reserve(n) {
    const keepFrom = Math.floor(this.readPos) - 64 - 1024;
    const need = this.writeEnd + n - keepFrom;
    if (need <= this.ring.length) return;
    let size = this.ring.length;
    while (size < need) size *= 2;
    const old = this.ring;
    const oldMask = this.mask;
    this.ring = new Float32Array(size);
    this.mask = size - 1;
    for (let k = Math.max(0, keepFrom); k < this.writeEnd; k++) this.ring[k & this.mask] = old[k & oldMask];
  }

  queuedMs() {
    let ms = 0;
    for (const s of this.segs) {
      const from = Math.max(s.start, this.readPos);
      if (s.end > from) ms += ((s.end - from) / s.rate) * 1000;
    }
    return ms;
  }

  // Barge-in: keep FADE_MS of audio to fade out, drop the rest, and say how much was dropped.
  flush(seq) {
    let cut = this.writeEnd;
    let fadeMs = 0; // audio still to be played in the fade-out
    if (this.readPos < this.writeEnd && !this.waiting) {
      const seg = this.segs[0];
      const rate = seg ? seg.rate : sampleRate;
      const fade = Math.round((FADE_MS * sampleRate) / 1000);
      cut = Math.min(this.writeEnd, Math.ceil(this.readPos + (fade * rate) / sampleRate));
      fadeMs = (Math.max(0, cut - this.readPos) / rate) * 1000;
      this.fadeLeft = fade;
      this.fadeTotal = fade;
      this.fadeEnd = cut;
    } else {
      cut = Math.min(this.writeEnd, Math.ceil(this.readPos)); // nothing audible yet: drop all
      if (this.waiting) cut = Math.floor(this.readPos);
      this.waiting = false;
    }
    let dropped = 0;
    const kept = [];
    for (const s of this.segs) {
      if (s.end <= cut) { kept.push(s); continue; }
      const from = Math.max(s.start, cut);
      dropped += ((s.end - from) / s.rate) * 1000;
      if (s.start < cut) { s.end = cut; kept.push(s); }
    }
    this.segs = kept;
    this.writeEnd = Math.max(cut, Math.floor(this.readPos));
    this.discardedMs += dropped;
    // played_ms includes the fade, so played + discarded adds up to everything sent.
    const state = this.state();
    state.played_ms += fadeMs;
    this.port.postMessage({ type: "flushed", seq, discarded_ms: dropped, ...state });
  }

  playedMs() {
    let ms = this.playedDoneMs;
    const s = this.segs[0];
    if (s && this.readPos > s.start) ms += ((Math.min(this.readPos, s.end) - s.start) / s.rate) * 1000;
    return ms;
  }

  itemMs() {
    const s = this.segs[0];
    let ms = this.itemDoneMs;
    if (s && s.item === this.itemId && this.readPos > s.start) {
      ms += ((Math.min(this.readPos, s.end) - s.start) / s.rate) * 1000;
    }
    return ms;
  }

  state() {
    return {
      played_ms: this.playedMs(),
      playing: this.active() && !this.waiting,
      queued_ms: this.queuedMs(),
      item_id: this.itemId,
      item_ms: this.itemMs(),
      discarded_total_ms: this.discardedMs,
      gaps: this.gaps,
      chunk_seq: this.lastSeq,
      t: Date.now(),
    };
  }

  report() {
    const msg = { type: "played", ...this.state() };
    if (this.starts.length) {
      msg.starts = this.starts;
      this.starts = [];
    }
    this.port.postMessage(msg);
    this.sinceReport = 0;
  }

  // Drop segments the read position has passed, crediting them to played (and to the item).
  retire() {
    while (this.segs.length && this.readPos >= this.segs[0].end) {
      const s = this.segs.shift();
      const ms = ((s.end - s.start) / s.rate) * 1000;
      this.playedDoneMs += ms;
      if (s.item !== this.itemId) { this.itemId = s.item; this.itemDoneMs = 0; }
      this.itemDoneMs += ms;
    }
    const s = this.segs[0];
    if (s && s.item !== this.itemId && this.readPos >= s.start) {
      this.itemId = s.item;
      this.itemDoneMs = 0;
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    const frames = out.length;
    if (this.waiting) {
      this.waitFrames -= frames;
      if (this.waitFrames <= 0 || this.queuedMs() >= this.prebufferMs) this.waiting = false;
    }
    const now = this.trace ? Date.now() : 0;
    let i = 0;
    if (!this.waiting) {
      const ring = this.ring;
      const mask = this.mask;
      for (; i < frames; i++) {
        if (this.fadeLeft > 0 && --this.fadeLeft === 0 && this.readPos < this.fadeEnd) {
          this.readPos = this.fadeEnd; // the fade is over: skip what is left of the cut audio
        }
        if (this.readPos >= this.writeEnd) {
          this.fadeLeft = 0;
          break;
        }
        this.retire();
        const s = this.segs[0];
        if (this.trace && !s.started) {
          s.started = true;
          this.starts.push([s.seq, s.arrive, now + (i / sampleRate) * 1000]);
        }
        const t = sincTable(sampleRate / s.rate);
        const pos = this.readPos;
        const lo = Math.max(Math.ceil(pos - t.half), this.writeEnd - ring.length);
        const hi = Math.min(Math.floor(pos + t.half), this.writeEnd - 1);
        let y = 0;
        for (let k = lo; k <= hi; k++) y += ring[k & mask] * weight(t, pos - k);
        if (this.fadeLeft > 0) y *= this.fadeLeft / this.fadeTotal;
        out[i] = y;
        this.readPos = pos + s.rate / sampleRate;
      }
      this.retire();
    }
    for (; i < frames; i++) out[i] = 0;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);

    const active = this.active() && !this.waiting;
    this.sinceReport += frames;
    if (active !== this.wasActive) {
      this.wasActive = active;
      this.report(); // start and stop of playback are reported at once
    } else if (this.sinceReport >= (active ? this.reportFrames : this.idleFrames)) {
      this.report();
    }
    return true;
  }
}

// ------------------------------------------------------------------------------------------
// microphone
// ------------------------------------------------------------------------------------------

const FRAME_MS = 20;

class Mic extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.hist = new Float32Array(4096); // input history for the resampling kernel
    this.hmask = this.hist.length - 1;
    this.sending = false;
    this.seq = 0;
    this.setRate(o.rate || 16000);
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type !== "config") return;
      if (m.rate && m.rate !== this.rate) this.setRate(m.rate);
      if (m.sending !== undefined && m.sending !== this.sending) this.gate(!!m.sending);
    };
  }

  setRate(rate) {
    if (this.sending) this.finishFrame();
    this.rate = rate;
    this.table = sincTable(rate / sampleRate);
    this.step = sampleRate / rate;
    this.n = 0; // input samples seen (absolute)
    this.pos = this.table.reach; // next output position, in input samples
    this.hist.fill(0);
    this.frame = new Int16Array(Math.round((rate * FRAME_MS) / 1000));
    this.fill = 0;
    this.sumSq = 0;
    this.peak = 0;
  }

  // Opening the gate starts a fresh frame; closing it sends the partial frame padded with
  // silence, so the last word before a push-to-talk release is never lost.
  gate(open) {
    if (!open && this.fill > 0) this.finishFrame();
    this.sending = open;
    this.fill = 0;
    this.sumSq = 0;
    this.peak = 0;
    this.port.postMessage({ type: "gate", open, seq: this.seq });
  }

  finishFrame() {
    const len = this.frame.length;
    const rms = Math.sqrt(this.sumSq / Math.max(1, this.fill));
    const peak = this.peak;
    if (this.sending) {
      this.frame.fill(0, this.fill);
      const pcm = this.frame.buffer;
      this.port.postMessage(
        { type: "frame", pcm, seq: this.seq++, rate: this.rate, t: Date.now(), rms, peak },
        [pcm],
      );
      this.frame = new Int16Array(len); // the old one was transferred away
    } else {
      this.port.postMessage({ type: "level", rms, peak });
    }
    this.fill = 0;
    this.sumSq = 0;
    this.peak = 0;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true; // the track ended or is not connected yet
    const a = input[0];
    const b = input.length > 1 ? input[1] : null;
    const hist = this.hist;
    const hmask = this.hmask;
    for (let i = 0; i < a.length; i++) hist[(this.n + i) & hmask] = b ? (a[i] + b[i]) / 2 : a[i];
    this.n += a.length;
    const t = this.table;
    // Emit every output sample whose kernel is fully inside the samples seen so far.
    while (this.pos + t.half < this.n) {
      const pos = this.pos;
      const lo = Math.max(Math.ceil(pos - t.half), 0);
      const hi = Math.floor(pos + t.half);
      let y = 0;
      for (let k = lo; k <= hi; k++) y += hist[k & hmask] * weight(t, pos - k);
      this.pos = pos + this.step;
      const v = y < -1 ? -1 : y > 1 ? 1 : y;
      this.frame[this.fill++] = v < 0 ? v * 32768 : v * 32767;
      this.sumSq += v * v;
      const m = v < 0 ? -v : v;
      if (m > this.peak) this.peak = m;
      if (this.fill === this.frame.length) this.finishFrame();
    }
    if (outputs[0] && outputs[0][0]) outputs[0][0].fill(0);
    return true;
  }
}

registerProcessor("rtl-player", Player);
registerProcessor("rtl-mic", Mic);
