// Front end of realtimelab.browser_audio.BrowserAudio: an anywidget ES module, no build step.
//
// Why the split between an "engine" and views: the audio belongs to the widget *model*, not to
// a view. A widget shown twice (or not shown at all) must still play each chunk exactly once,
// so initialize() owns the AudioContext, the worklets and the microphone, and render() only
// draws controls bound to that engine. The default export is a factory so that each model gets
// its own engine in a closure (anywidget calls it once per model).
//
// Wire protocol (custom widget messages; PCM always travels as a binary buffer, never base64):
//   kernel -> browser  play {seq, rate, item} + [PCM16 LE mono]  ·  flush {seq}
//                      owner {client}  ·  ping {t0}
//   browser -> kernel  hello {client, secure, origin}  ·  claim {client}
//                      played {client, played_ms, playing, queued_ms, item_id, item_ms, ...}
//                      flushed {client, seq, discarded_ms, played_ms, ...}
//                      mic {client, rate, frames: [[seq, t], ...], ts, rms}
//                          + one PCM16 LE mono buffer of 20 ms per frame (mic_batch frames)
//                      capture {client, capturing, seq}  ·  pong {t0, tb}
//   both ways          hb {n}: every 3 s the page asks, the kernel answers (liveness)
// Settings (mic_enabled, mode, muted, the three getUserMedia options, mic_rate, mic_batch,
// volume, report_ms, prebuffer_ms, trace) are ordinary synced traits; status/error/capturing/
// context_rate/mic_settings are written by the browser.

const HEARTBEAT_MS = 1000; // the kernel calls a page "gone" after ~2.5 s without a message
const KERNEL_SILENT_MS = 6000; // no answer to our "hb" for this long: say so in the widget

function insecureText(what) {
  return `The ${what} needs a secure page: open the notebook over https:// or http://localhost ` +
    `(this page is ${location.origin}).`;
}

function micErrorText(err) {
  const name = (err && err.name) || "Error";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "Microphone permission denied: allow the microphone for this page (icon in the " +
        "address bar), then switch the mic on again.";
    case "NotFoundError":
    case "DevicesNotFoundError":
      return "No microphone found: connect one, then switch the mic on again.";
    case "NotReadableError":
    case "TrackStartError":
      return "The microphone could not be started: another application may hold it, or the " +
        "system blocks access.";
    case "OverconstrainedError":
      return `The microphone cannot satisfy the requested setting ${err.constraint || ""}.`;
    case "SecurityError":
      return insecureText("microphone");
    default:
      return `The microphone failed: ${name}: ${(err && err.message) || err}`.split("\n")[0];
  }
}

function randomId() {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
}

// Copy a received buffer (a DataView or ArrayBuffer, possibly a view into a larger buffer at an
// odd offset) into its own ArrayBuffer, so it can be transferred to the worklet as Int16 data.
function ownBuffer(b) {
  if (b instanceof ArrayBuffer) return b.slice(0);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

class Engine {
  constructor(model, signal) {
    this.model = model;
    this.client = randomId();
    this.views = new Set();
    this.owner = null; // the kernel names one page per widget as the audio owner
    this.gone = false;
    this.audio = "starting"; // starting | ready | failed
    this.ctx = null;
    this.player = null;
    this.gain = null;
    this.pending = []; // play/flush messages that arrived before the worklet was ready
    this.state = { played_ms: 0, playing: false, queued_ms: 0, item_id: null, item_ms: 0,
      discarded_total_ms: 0, gaps: 0, chunk_seq: -1, t: Date.now() };
    this.mic = null; // {stream, source, node, track}
    this.micPhase = "off"; // off | opening | on
    this.micToken = 0;
    this.pttHeld = false;
    this.capturing = false;
    this.batch = []; // mic frames waiting to be sent together
    this.level = 0;
    this.lastSent = 0;
    this.statusText = "";
    this.errorText = "";
    this.micError = "";
    this.lastKernel = Date.now(); // last message from the kernel
    this.kernelSilent = false;
    this.beats = 0;

    this.onCustom = (msg, buffers) => this.handle(msg, buffers);
    model.on("msg:custom", this.onCustom);
    model.on("change:mic_enabled", () => this.syncMic());
    model.on("change:mic_rate", () => this.configMic());
    for (const k of ["echo_cancellation", "noise_suppression", "auto_gain_control"]) {
      model.on(`change:${k}`, () => this.reopenMic());
    }
    for (const k of ["mode", "muted"]) model.on(`change:${k}`, () => this.updateGate());
    model.on("change:volume", () => this.gain && (this.gain.gain.value = model.get("volume")));
    for (const k of ["report_ms", "prebuffer_ms", "trace"]) {
      model.on(`change:${k}`, () => this.configPlayer());
    }
    // ipywidgets marks every model "not live" when the kernel restarts; nothing comes back.
    model.on("comm_live_update", () => this.disconnect());
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    signal.addEventListener("abort", () => this.close());

    this.send({ type: "hello", client: this.client, secure: !!window.isSecureContext,
      origin: location.origin });
    this.ready = this.startAudio();
    this.syncMic();
  }

  // -- kernel link ------------------------------------------------------------------------

  send(content, buffers) {
    if (this.gone) return;
    try {
      this.model.send(content, undefined, buffers);
      this.lastSent = Date.now();
    } catch (err) {
      this.disconnect(); // the comm or the kernel is gone: sending throws
    }
  }

  setTrait(name, value) {
    if (this.gone || !this.isOwner()) return; // a second page must not fight over the traits
    if (this.model.get(name) === value) return;
    try {
      this.model.set(name, value);
      this.model.save_changes();
    } catch (err) {
      this.disconnect();
    }
  }

  isOwner() {
    return this.owner === null || this.owner === this.client;
  }

  handle(msg, buffers) {
    if (this.gone || !msg) return;
    this.lastKernel = Date.now();
    if (this.kernelSilent) {
      this.kernelSilent = false;
      this.refresh();
    }
    switch (msg.type) {
      case "play":
        if (!this.isOwner() || !buffers || !buffers.length) return;
        this.toPlayer({ type: "chunk", pcm: ownBuffer(buffers[0]), rate: msg.rate,
          item: msg.item ?? null, seq: msg.seq, arrive: Date.now() }, true);
        break;
      case "flush":
        if (this.isOwner()) this.toPlayer({ type: "flush", seq: msg.seq }, false);
        break;
      case "owner":
        this.setOwner(msg.client);
        break;
      case "ping":
        this.send({ type: "pong", client: this.client, t0: msg.t0, tb: Date.now() });
        break;
    }
  }

  setOwner(client) {
    const was = this.isOwner();
    this.owner = client;
    if (was && !this.isOwner()) {
      // Another page plays this widget now: go quiet and release the microphone.
      this.toPlayer({ type: "flush", seq: -1 }, false);
      this.closeMic();
    } else if (!was && this.isOwner()) {
      this.syncMic();
    }
    this.refresh();
  }

  heartbeat() {
    if (this.gone) return;
    // A kernel restarted from elsewhere (another tab, the REST API) or shut down closes no comm
    // in this page; only its silence tells. A long-running cell is silent too, hence "busy".
    if (++this.beats % 3 === 0) this.send({ type: "hb", client: this.client, n: this.beats });
    const silent = Date.now() - this.lastKernel > KERNEL_SILENT_MS;
    if (silent !== this.kernelSilent) {
      this.kernelSilent = silent;
      this.refresh();
    }
    if (!this.isOwner()) {
      this.send({ type: "hello", client: this.client, secure: !!window.isSecureContext,
        origin: location.origin });
    } else if (Date.now() - this.lastSent > HEARTBEAT_MS * 0.9) {
      // The worklet reports by itself while the AudioContext runs; this covers a suspended or
      // failed context, so the kernel still hears from the page (and sees playing = false).
      const running = this.ctx && this.ctx.state === "running";
      this.report({ ...this.state, playing: running ? this.state.playing : false });
    }
  }

  report(state) {
    const changed = state.playing !== this.state.playing;
    this.state = state;
    const running = !!this.ctx && this.ctx.state === "running";
    this.send({ type: "played", client: this.client, ...state, running,
      latency_ms: this.latencyMs() });
    if (changed) this.refresh(); // playing/idle shows in the status line; positions do not
  }

  latencyMs() {
    const c = this.ctx;
    if (!c) return 0;
    return ((c.baseLatency || 0) + (c.outputLatency || 0)) * 1000;
  }

  // -- playback -----------------------------------------------------------------------------

  async startAudio() {
    try {
      if (!window.isSecureContext) throw new Error(insecureText("audio player (AudioWorklet)"));
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) throw new Error("This browser has no Web Audio (AudioContext): use a recent " +
        "Chrome, Edge, Firefox or Safari.");
      const ctx = new AC({ latencyHint: "interactive" });
      this.ctx = ctx;
      if (!ctx.audioWorklet) throw new Error("This browser has no AudioWorklet (needed to " +
        "stream audio): use a recent Chrome, Edge, Firefox or Safari.");
      const url = URL.createObjectURL(
        new Blob([this.model.get("_worklet")], { type: "text/javascript" }));
      try {
        await ctx.audioWorklet.addModule(url);
      } catch (err) {
        throw new Error(`Could not load the audio worklet (${err && err.message}); the page ` +
          "may forbid blob: scripts.");
      } finally {
        URL.revokeObjectURL(url);
      }
      if (this.gone) return false;
      this.gain = ctx.createGain();
      this.gain.gain.value = this.model.get("volume");
      this.gain.connect(ctx.destination);
      this.player = new AudioWorkletNode(ctx, "rtl-player", {
        numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { reportMs: this.model.get("report_ms"),
          prebufferMs: this.model.get("prebuffer_ms"), trace: this.model.get("trace") },
      });
      this.player.connect(this.gain);
      this.player.port.onmessage = (e) => this.fromPlayer(e.data);
      ctx.onstatechange = () => this.refresh();
      this.audio = "ready";
      this.setTrait("context_rate", ctx.sampleRate);
      if (ctx.state !== "running") this.armResume();
      for (const [m, transfer] of this.pending.splice(0)) this.toPlayer(m, transfer);
      this.refresh();
      return true;
    } catch (err) {
      this.audio = "failed";
      this.errorText = String((err && err.message) || err).split("\n")[0];
      // Whatever was sent for playback will never play: say so as a flush would.
      for (const [m] of this.pending.splice(0)) if (m.type === "flush") this.fromPlayer(
        { type: "flushed", seq: m.seq, discarded_ms: 0, ...this.state });
      this.refresh();
      return false;
    }
  }

  // Browsers start an AudioContext "suspended" until the page gets a click or key press; the
  // first one anywhere in the page resumes it (and the view offers a button too).
  armResume() {
    const resume = () => this.resume();
    document.addEventListener("pointerdown", resume, { once: true, capture: true });
    document.addEventListener("keydown", resume, { once: true, capture: true });
  }

  resume() {
    if (this.ctx && this.ctx.state === "suspended") this.ctx.resume().then(() => this.refresh());
  }

  toPlayer(m, transfer) {
    if (this.audio === "failed") {
      if (m.type === "flush") this.fromPlayer({ type: "flushed", seq: m.seq, discarded_ms: 0,
        ...this.state });
      return;
    }
    if (!this.player) {
      if (m.type === "flush") {
        // Drop queued chunks here and answer for the worklet, so the kernel's account holds.
        let ms = 0;
        this.pending = this.pending.filter(([p]) => {
          if (p.type !== "chunk") return true;
          ms += (p.pcm.byteLength / 2 / p.rate) * 1000;
          return false;
        });
        this.state.discarded_total_ms += ms;
        this.fromPlayer({ type: "flushed", seq: m.seq, discarded_ms: ms, ...this.state });
      } else {
        this.pending.push([m, transfer]);
      }
      return;
    }
    this.player.port.postMessage(m, transfer ? [m.pcm] : []);
  }

  configPlayer() {
    if (this.player) this.player.port.postMessage({ type: "config",
      reportMs: this.model.get("report_ms"), prebufferMs: this.model.get("prebuffer_ms"),
      trace: this.model.get("trace") });
  }

  fromPlayer(m) {
    if (m.type === "played") {
      const { type, ...state } = m;
      this.report(state);
    } else if (m.type === "flushed") {
      if (m.seq < 0) return; // our own flush when another page took over
      const { type, ...rest } = m;
      this.state = { ...this.state, ...rest };
      this.send({ type: "flushed", client: this.client, ...rest, latency_ms: this.latencyMs() });
    }
  }

  // -- microphone ---------------------------------------------------------------------------

  wantMic() {
    return !this.gone && this.isOwner() && !!this.model.get("mic_enabled");
  }

  syncMic() {
    if (this.wantMic() && this.micPhase === "off") this.openMic();
    else if (!this.wantMic() && this.micPhase !== "off") this.closeMic();
    this.refresh();
  }

  reopenMic() {
    if (this.micPhase === "off") return;
    this.closeMic();
    this.syncMic();
  }

  async openMic() {
    const token = ++this.micToken;
    this.micPhase = "opening";
    this.micError = "";
    this.refresh();
    const fail = (text) => {
      if (token !== this.micToken) return;
      this.micError = text;
      this.closeMic();
      this.setTrait("mic_enabled", false); // the kernel sees the mic is off, and why (error)
      this.refresh();
    };
    if (!window.isSecureContext) return fail(insecureText("microphone"));
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return fail("This browser cannot capture audio (no navigator.mediaDevices.getUserMedia).");
    }
    if (!(await this.ready)) return fail(`The microphone needs the audio engine: ${this.errorText}`);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: {
        echoCancellation: this.model.get("echo_cancellation"),
        noiseSuppression: this.model.get("noise_suppression"),
        autoGainControl: this.model.get("auto_gain_control"),
        channelCount: 1,
      } });
    } catch (err) {
      return fail(micErrorText(err));
    }
    if (token !== this.micToken || !this.wantMic()) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    const ctx = this.ctx;
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "rtl-mic", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { rate: this.model.get("mic_rate") },
    });
    source.connect(node);
    node.connect(ctx.destination); // silent output: keeps the node pulled by the graph
    node.port.onmessage = (e) => this.fromMic(e.data);
    const track = stream.getAudioTracks()[0];
    track.onended = () => fail("The microphone was disconnected or stopped by the system.");
    this.mic = { stream, source, node, track };
    this.micPhase = "on";
    const s = track.getSettings ? track.getSettings() : {};
    this.setTrait("mic_settings", { label: track.label || "", deviceId: s.deviceId || "",
      sampleRate: s.sampleRate || ctx.sampleRate, channelCount: s.channelCount || 1,
      echoCancellation: s.echoCancellation ?? null, noiseSuppression: s.noiseSuppression ?? null,
      autoGainControl: s.autoGainControl ?? null });
    if (ctx.state !== "running") this.resume();
    this.updateGate();
  }

  closeMic() {
    this.micToken++;
    const mic = this.mic;
    this.mic = null;
    this.micPhase = "off";
    this.pttHeld = false;
    if (mic) {
      // Switching the mic off drops the partial frame (< 20 ms), so that "capturing: false"
      // below is really the last thing the kernel hears from this microphone.
      mic.track.onended = null;
      mic.node.port.onmessage = null;
      mic.stream.getTracks().forEach((t) => t.stop());
      mic.source.disconnect();
      mic.node.disconnect();
    }
    this.sendBatch();
    if (this.capturing) this.setCapturing(false, -1);
    this.level = 0;
    this.refresh();
  }

  configMic() {
    if (this.mic) this.mic.node.port.postMessage({ type: "config",
      rate: this.model.get("mic_rate") });
  }

  // Frames flow only when the mic is on, not muted, and (hands-free or the talk key is held).
  updateGate() {
    const m = this.model;
    const open = !!this.mic && !m.get("muted") &&
      (m.get("mode") === "hands_free" || this.pttHeld);
    if (this.mic) this.mic.node.port.postMessage({ type: "config", sending: open });
    this.refresh();
  }

  setPtt(held) {
    if (held && this.ctx) this.resume();
    if (held === this.pttHeld) return;
    this.pttHeld = held;
    this.updateGate();
  }

  setCapturing(on, seq) {
    this.capturing = on;
    this.send({ type: "capture", client: this.client, capturing: on, seq });
    this.setTrait("capturing", on);
  }

  fromMic(m) {
    if (m.type === "frame") {
      this.batch.push(m);
      if (this.batch.length >= this.model.get("mic_batch")) this.sendBatch();
      this.level = m.rms;
    } else if (m.type === "level") {
      this.level = m.rms;
    } else if (m.type === "gate") {
      this.sendBatch(); // the turn's last frames go before "capturing: false"
      if (m.open !== this.capturing && this.mic) this.setCapturing(m.open, m.seq);
      this.refresh();
    }
    for (const v of this.views) v.meter(this.level, this.capturing);
  }

  // Frames travel in batches of mic_batch (default 1): per-message cost dominates in the
  // kernel, so a batch of 3 costs about a third of the CPU, for up to 40 ms more latency.
  sendBatch() {
    const frames = this.batch;
    if (!frames.length) return;
    this.batch = [];
    this.send({ type: "mic", client: this.client, rate: frames[0].rate,
      frames: frames.map((f) => [f.seq, f.t]), ts: Date.now(),
      rms: frames[frames.length - 1].rms }, frames.map((f) => f.pcm));
  }

  // -- lifecycle ----------------------------------------------------------------------------

  disconnect() {
    if (this.gone) return;
    this.errorText = "Disconnected from the kernel (restarted or shut down): audio stopped; " +
      "re-run the cell for a new widget.";
    this.shutdown();
  }

  close() {
    this.shutdown();
  }

  shutdown() {
    this.closeMic();
    this.gone = true;
    clearInterval(this.timer);
    this.model.off("msg:custom", this.onCustom);
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close().catch(() => {});
    this.refresh();
  }

  // -- status -------------------------------------------------------------------------------

  statusLine() {
    if (this.gone) return "stopped";
    if (!this.isOwner()) return "audio for this widget runs in another window or tab";
    const m = this.model;
    let speaker;
    if (this.audio === "starting") speaker = "starting audio…";
    else if (this.audio === "failed") speaker = "speaker unavailable";
    else if (this.ctx.state !== "running") speaker = "sound paused by the browser: click ▶ or anywhere in the page";
    else speaker = `speaker ${this.ctx.sampleRate / 1000} kHz` + (this.state.playing ? ", playing" : "");
    let mic;
    const rate = `${m.get("mic_rate") / 1000} kHz`;
    if (this.micPhase === "off") mic = "mic off";
    else if (this.micPhase === "opening") mic = "asking for the microphone…";
    else if (m.get("muted")) mic = "mic muted";
    else if (m.get("mode") === "push_to_talk") {
      mic = this.pttHeld ? `talking → kernel (${rate})` : "push-to-talk: hold the button or Space";
    } else mic = `mic live → kernel (${rate})`;
    return `${speaker} · ${mic}`;
  }

  refresh(traits = true) {
    const status = this.statusLine();
    const error = this.errorText || this.micError;
    const changed = status !== this.statusText || error !== this.prevError;
    this.statusText = status;
    this.prevError = error;
    if (traits && changed) {
      this.setTrait("status", status);
      this.setTrait("error", error);
    }
    for (const v of this.views) v.update();
  }
}

// -- view -------------------------------------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function checkbox(model, name, label) {
  const wrap = el("label", "rtl-ba-check");
  const box = el("input");
  box.type = "checkbox";
  box.dataset.trait = name;
  box.addEventListener("change", () => {
    model.set(name, box.checked);
    model.save_changes();
  });
  wrap.append(box, document.createTextNode(" " + label));
  return { wrap, box };
}

function makeView(engine, model, root) {
  root.classList.add("rtl-ba");
  const top = el("div", "rtl-ba-row");
  const title = el("span", "rtl-ba-label");
  const dot = el("span", "rtl-ba-dot");
  const status = el("span", "rtl-ba-status");
  const enable = el("button", "rtl-ba-enable", "▶ Enable sound");
  const claim = el("button", "rtl-ba-claim", "Use audio here");
  // A speaker-only widget (microphone = false) has a sound switch instead of the mic rows: a
  // silenced page still plays (volume 0), so its played position stays true.
  const sound = el("label", "rtl-ba-check");
  const soundBox = el("input");
  soundBox.type = "checkbox";
  soundBox.addEventListener("change", () => {
    engine.resume(); // a click is the user gesture a suspended AudioContext waits for
    model.set("volume", soundBox.checked ? 1.0 : 0.0);
    model.save_changes();
  });
  sound.append(soundBox, document.createTextNode(" sound"));
  top.append(title, dot, status, sound, enable, claim);

  const controls = el("div", "rtl-ba-row");
  const micBtn = el("button", "rtl-ba-mic");
  const mode = el("select", "rtl-ba-mode");
  for (const [v, t] of [["hands_free", "hands-free"], ["push_to_talk", "push-to-talk"]]) {
    const o = el("option", null, t);
    o.value = v;
    mode.append(o);
  }
  const ptt = el("button", "rtl-ba-ptt", "Hold to talk");
  const mute = checkbox(model, "muted", "mute");
  const meter = el("div", "rtl-ba-meter");
  const bar = el("div", "rtl-ba-meter-bar");
  meter.append(bar);
  controls.append(micBtn, mode, ptt, mute.wrap, meter);

  const options = el("div", "rtl-ba-row rtl-ba-options");
  const ec = checkbox(model, "echo_cancellation", "echo cancellation");
  const ns = checkbox(model, "noise_suppression", "noise suppression");
  const agc = checkbox(model, "auto_gain_control", "auto gain");
  options.append(ec.wrap, ns.wrap, agc.wrap);

  const error = el("div", "rtl-ba-error");
  error.setAttribute("role", "alert");
  root.append(top, controls, options, error);

  enable.addEventListener("click", () => engine.resume());
  claim.addEventListener("click", () => engine.send({ type: "claim", client: engine.client }));
  micBtn.addEventListener("click", () => {
    engine.resume(); // a click is the user gesture browsers want before sound starts
    model.set("mic_enabled", !model.get("mic_enabled"));
    model.save_changes();
  });
  mode.addEventListener("change", () => {
    model.set("mode", mode.value);
    model.save_changes();
  });
  // Push-to-talk: pointer capture so a release outside the button still ends the turn.
  ptt.addEventListener("pointerdown", (e) => {
    ptt.setPointerCapture(e.pointerId);
    engine.setPtt(true);
  });
  for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) {
    ptt.addEventListener(ev, () => engine.setPtt(false));
  }
  ptt.addEventListener("keydown", (e) => {
    if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation(); // keep JupyterLab's shortcuts (Space, Enter) out of it
      if (!e.repeat) engine.setPtt(true);
    }
  });
  ptt.addEventListener("keyup", (e) => {
    if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      engine.setPtt(false);
    }
  });
  ptt.addEventListener("blur", () => engine.setPtt(false));

  let frame = 0;
  const view = {
    update() {
      const owner = engine.isOwner();
      const on = !!model.get("mic_enabled");
      status.textContent = engine.statusText;
      status.title = engine.statusText;
      const silent = engine.kernelSilent && !engine.gone ? "The kernel has not answered for " +
        `${KERNEL_SILENT_MS / 1000} s or more: it is busy, was restarted elsewhere, or was ` +
        "shut down." : "";
      const err = engine.errorText || engine.micError || silent;
      error.textContent = err;
      error.style.display = err ? "" : "none";
      root.classList.toggle("rtl-ba-gone", engine.gone);
      dot.classList.toggle("rtl-ba-playing", !!engine.state.playing && !engine.gone);
      enable.style.display = owner && engine.ctx && engine.ctx.state === "suspended" &&
        !engine.gone ? "" : "none";
      claim.style.display = owner || engine.gone ? "none" : "";
      micBtn.textContent = on ? "Mic on" : "Mic off";
      micBtn.classList.toggle("rtl-ba-on", on);
      micBtn.disabled = engine.gone || !owner;
      mode.value = model.get("mode");
      ptt.style.display = model.get("mode") === "push_to_talk" ? "" : "none";
      ptt.disabled = !engine.mic || engine.gone;
      ptt.classList.toggle("rtl-ba-on", engine.pttHeld);
      for (const c of [mute, ec, ns, agc]) c.box.checked = !!model.get(c.box.dataset.trait);
      const mic = model.get("microphone") !== false;
      controls.style.display = mic ? "" : "none";
      options.style.display = mic ? "" : "none";
      sound.style.display = mic ? "none" : "";
      soundBox.checked = model.get("volume") > 0;
      title.textContent = model.get("label") || "";
      title.style.display = title.textContent ? "" : "none";
      if (!engine.mic) view.meter(0, false);
    },
    // Level meter: RMS in dBFS mapped from -60..0 dB, drawn at most once per animation frame.
    meter(rms, live) {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        const db = rms > 0 ? 20 * Math.log10(rms) : -100;
        bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
        bar.classList.toggle("rtl-ba-live", live);
      });
    },
  };
  const traits = ["mic_enabled", "mode", "muted", "echo_cancellation", "noise_suppression",
    "auto_gain_control", "mic_rate", "microphone", "volume", "label"];
  const onChange = () => view.update();
  for (const t of traits) model.on(`change:${t}`, onChange);
  view.update();
  return {
    view,
    dispose() {
      for (const t of traits) model.off(`change:${t}`, onChange);
      if (frame) cancelAnimationFrame(frame);
    },
  };
}

export default () => {
  let engine = null;
  return {
    initialize({ model, signal }) {
      // Must return quickly (anywidget times out slow initializers): everything slow is async.
      engine = new Engine(model, signal || new AbortController().signal);
      return () => engine && engine.close();
    },
    render({ model, el: root }) {
      const { view, dispose } = makeView(engine, model, root);
      engine.views.add(view);
      return () => {
        engine.views.delete(view);
        dispose();
      };
    },
  };
};
