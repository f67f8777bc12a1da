// stepvox web page: mic -> WebSocket -> assistant -> streamed reply audio + live transcript.
"use strict";
(() => {
  const RATE = 16000;
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const $ = (id) => document.getElementById(id);
  const S = (window.stepvox = {
    state: "idle", playedSamples: 0, peak: 0, firstAudioAt: null, speechEndAt: null,
    audioBytes: 0, transcripts: [], toolCalls: [], toolResults: [], voices: [], turns: [], events: [], errors: [],
    waiting: null, decisions: [],
  });
  let ws = null, ctx = null, mic = null, player = null, assistantEntry = null;
  let lastQueued = 0;

  function setStatus(text, state) {
    $("status").textContent = text;
    if (state) { $("status").dataset.state = state; S.state = state; }
  }
  function entry(cls, who, text) {
    const div = document.createElement("div");
    div.className = "entry " + cls;
    if (who) { const w = document.createElement("span"); w.className = "who"; w.textContent = who; div.appendChild(w); }
    const t = document.createElement("span"); t.className = "text"; t.textContent = text; div.appendChild(t);
    $("transcript").appendChild(div);
    $("transcript").scrollTop = $("transcript").scrollHeight;
    return t;
  }
  function authHeaders() { return token ? { Authorization: "Bearer " + token } : {}; }

  async function loadVoices() {
    try {
      const r = await fetch("/api/voices", { headers: authHeaders() });
      if (!r.ok) return;
      const voices = await r.json();
      const sel = $("voice");
      for (const v of voices) {
        const o = document.createElement("option");
        o.value = v.voice_id; o.textContent = v.name || v.voice_id;
        sel.appendChild(o);
      }
      S.voices = voices;
    } catch (e) { S.errors.push(String(e)); }
  }

  function send(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }

  // -- a person in the loop: the conversation waits for an approval or an operator's answer --
  // (everything shown is set as text: tool arguments come from what the user said)
  function node(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.appendChild(k);
    return e;
  }
  function cardState(text) { const p = $("card-state"); if (p) p.textContent = text; }
  function cardBusy(busy) {
    for (const e of $("person").querySelectorAll("button, input, textarea")) e.disabled = busy;
  }
  function clearCard() { S.waiting = null; S.pendingDecision = null; $("person").replaceChildren(); }
  function decide(msg, said) {
    if (S.pendingDecision) return;
    S.pendingDecision = msg;
    S.decisions.push(msg);
    send(msg);
    cardBusy(true);
    cardState(said + " — the assistant goes on…");
    entry("system", "", said);
    setStatus("thinking…", "thinking");
  }
  function showWaiting(m) {
    S.waiting = m;
    S.pendingDecision = null;
    const title = node("h2", { id: "card-title", text: m.kind === "approval" ? "Approval needed" : "A person is asked to answer" });
    const card = node("div", { class: "card " + m.kind, role: "group", "aria-labelledby": "card-title" }, title);
    if (m.kind === "approval") {
      card.appendChild(node("p", { text: `The assistant wants to run ${m.calls.length === 1 ? "this tool" : "these tools"}:` }));
      for (const c of m.calls) {
        card.appendChild(node("div", { class: "call", text: `${c.name}(${JSON.stringify(c.arguments)})` }));
      }
      const reason = node("input", { id: "decision-reason", type: "text", maxlength: "200", autocomplete: "off" });
      card.appendChild(node("label", { for: "decision-reason", text: "Reason (optional)" }));
      card.appendChild(reason);
      const names = m.calls.map((c) => c.name).join(", ");
      const approve = node("button", { id: "approve", class: "approve", type: "button", text: "Approve", "aria-label": `Approve ${names}` });
      const deny = node("button", { id: "deny", class: "deny", type: "button", text: "Deny", "aria-label": `Deny ${names}` });
      const why = () => reason.value.trim() || null;
      approve.addEventListener("click", () => decide({ type: "approve", reason: why() }, `✓ approved ${names}`));
      deny.addEventListener("click", () => decide({ type: "deny", reason: why() }, `✗ denied ${names}` + (why() ? ` (${why()})` : "")));
      card.appendChild(node("div", { class: "actions" }, approve, deny));
    } else {
      if (m.reason) card.appendChild(node("p", { text: `Why: ${m.reason}` }));
      const text = node("textarea", { id: "operator-text", rows: "3", maxlength: "2000", required: "" });
      const form = node("form", { id: "operator-form" },
        node("label", { for: "operator-text", text: "Operator's answer (the assistant says it)" }), text,
        node("div", { class: "actions" }, node("button", { id: "operator-send", class: "send", type: "submit", text: "Send" })));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!text.value.trim()) { cardState("write an answer first"); return; }
        decide({ type: "reply", text: text.value.trim() }, "operator's answer sent");
      });
      card.appendChild(form);
    }
    card.appendChild(node("p", { id: "card-state", class: "card-state", role: "status" }));
    $("person").replaceChildren(card);
    setStatus(m.kind === "approval" ? "waiting for your approval" : "waiting for an operator", "waiting");
  }

  function onMessage(ev) {
    if (typeof ev.data !== "string") {
      const pcm = new Int16Array(ev.data);
      const f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
      if (S.firstAudioAt === null) S.firstAudioAt = performance.now();
      S.audioBytes += ev.data.byteLength;
      player.port.postMessage({ type: "audio", samples: f }, [f.buffer]);
      return;
    }
    // every JSON message is a model.events event (assistant/server/protocol.py)
    const m = JSON.parse(ev.data);
    S.events.push(m.type);
    switch (m.type) {
      case "status": setStatus("loading the assistant…", "loading"); break;
      case "ready":
        clearCard();  // a conversation already paused is told by the `waiting` that follows
        setStatus("listening — ask something", "listening");
        S.threadId = m.thread_id;
        $("talk").disabled = $("mode").value !== "ptt";
        $("interrupt").disabled = false;
        break;
      case "speech_start": setStatus("hearing you…", "hearing"); break;
      case "speech_end": S.speechEndAt = performance.now(); setStatus("thinking…", "thinking"); break;
      case "speech_abort": if (S.state === "hearing") setStatus("listening", "listening"); break;
      case "ptt": if (m.pressed) setStatus("recording…", "hearing"); break;
      case "barge_in": entry("system", "", "⏹ interrupted"); break;
      case "turn_cancelled": entry("system", "", "reply cancelled"); break;
      case "voice_selected": S.voiceSelected = m.voice_id; break;
      case "stop_playback":
        player.port.postMessage({ type: "flush" });
        break;
      case "transcript":
        S.transcripts.push(m.text);
        entry("user", "You:", m.text);
        assistantEntry = null;
        break;
      case "text_delta":
        if (!assistantEntry) assistantEntry = entry("assistant", "Assistant:", "");
        assistantEntry.textContent += m.text;
        setStatus("speaking", "speaking");
        break;
      case "tool_call":
        S.toolCalls.push(m);
        entry("tool", "tool →", `${m.name}(${JSON.stringify(m.arguments)})`);
        assistantEntry = null;
        break;
      case "tool_result":
        S.toolResults.push(m);
        entry("tool", "result ←", `${m.name}: ${m.content.length > 200 ? m.content.slice(0, 200) + "…" : m.content}`);
        break;
      case "voice_changed":
        entry("voice", "voice →", `${m.name || m.voice_id}`);
        break;
      case "timing": {
        const t = document.createElement("span");
        t.textContent = `${m.stage} ${Math.round(m.ms)} ms · `;
        $("timings").appendChild(t);
        break;
      }
      case "waiting": showWaiting(m); break;
      case "turn_done":
        S.turns.push(m.result);
        if (m.result && !m.result.waiting) clearCard();  // the conversation waits no more
        if (!assistantEntry && m.result && m.result.reply_text && !m.result.info?.cancelled) {
          entry("assistant", "Assistant:", m.result.reply_text);  // a reply that streamed no text deltas
        }
        assistantEntry = null;
        if (S.state !== "speaking") setStatus("listening", "listening");
        break;
      case "error":
        S.errors.push(m.message);
        entry("error", "error", m.message);
        if (S.pendingDecision) { S.pendingDecision = null; cardBusy(false); cardState(m.message); }
        break;
    }
  }

  async function start() {
    $("start").disabled = true;
    setStatus("starting microphone…", "starting");
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    // a 16 kHz context spares resampling; browsers that cannot connect a mic of another rate
    // to it (Firefox) get the default rate, and the server resamples
    let src = null;
    for (const rate of [RATE, null]) {
      ctx = rate ? new AudioContext({ sampleRate: rate, latencyHint: "interactive" }) : new AudioContext({ latencyHint: "interactive" });
      try { src = ctx.createMediaStreamSource(stream); break; } catch (e) { await ctx.close(); if (!rate) throw e; }
    }
    await ctx.audioWorklet.addModule("/static/mic-worklet.js");
    await ctx.audioWorklet.addModule("/static/player-worklet.js");
    mic = new AudioWorkletNode(ctx, "mic-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
    player = new AudioWorkletNode(ctx, "stream-player", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    player.connect(ctx.destination);
    player.port.onmessage = (e) => {
      const m = e.data;
      S.playedSamples = m.played; S.peak = Math.max(S.peak, m.peak);
      if (lastQueued > 0 && m.queued === 0) {
        send({ type: "playback", state: "idle" });
        if (S.state === "speaking") setStatus("listening", "listening");
      }
      lastQueued = m.queued;
    };
    src.connect(mic);
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}/ws${token ? "?token=" + encodeURIComponent(token) : ""}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => send({
      type: "start", sample_rate: ctx.sampleRate, output_sample_rate: ctx.sampleRate,
      mode: $("mode").value, voice_id: $("voice").value || null,
      thread_id: sessionStorage.getItem("stepvox-thread") || null,
    });
    ws.onmessage = (e) => { onMessage(e); if (S.threadId) sessionStorage.setItem("stepvox-thread", S.threadId); };
    ws.onclose = () => { setStatus("disconnected", "closed"); $("start").disabled = false; clearCard(); };
    mic.port.onmessage = (e) => {
      $("meter-bar").style.width = Math.min(100, Math.round(e.data.level * 300)) + "%";
      if (ws && ws.readyState === 1) ws.send(e.data.pcm);
    };
  }

  $("start").addEventListener("click", () => start().catch((e) => {
    S.errors.push(String(e)); setStatus("microphone unavailable: " + e.message, "error"); $("start").disabled = false;
  }));
  $("mode").addEventListener("change", () => {
    send({ type: "mode", mode: $("mode").value });
    $("talk").disabled = !(ws && $("mode").value === "ptt");
  });
  const talk = $("talk");
  talk.addEventListener("pointerdown", () => send({ type: "ptt", pressed: true }));
  for (const ev of ["pointerup", "pointerleave"]) talk.addEventListener(ev, () => send({ type: "ptt", pressed: false }));
  $("interrupt").addEventListener("click", () => { send({ type: "interrupt" }); if (player) player.port.postMessage({ type: "flush" }); });
  $("voice").addEventListener("change", () => send({ type: "voice", voice_id: $("voice").value || null }));
  $("corpus-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const files = $("corpus-files").files;
    if (!files.length) { $("corpus-result").textContent = "choose files first"; return; }
    const fd = new FormData();
    for (const f of files) fd.append("files", f);
    $("corpus-result").textContent = "uploading…";
    const r = await fetch("/api/corpus", { method: "POST", body: fd, headers: authHeaders() });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { $("corpus-result").textContent = "error: " + (body.detail || r.status); return; }
    const base = (p) => String(Array.isArray(p) ? p[0] : p).split("/").pop();
    const parts = [];
    if (body.added && body.added.length) parts.push("added " + body.added.map(base).join(", "));
    if (body.updated && body.updated.length) parts.push("updated " + body.updated.map(base).join(", "));
    if (body.unchanged && body.unchanged.length) parts.push("unchanged " + body.unchanged.map(base).join(", "));
    if (body.skipped && body.skipped.length) parts.push("skipped " + body.skipped.map((s) => `${base(s)} (${s[1]})`).join(", "));
    $("corpus-result").textContent = parts.length ? parts.join("; ") : JSON.stringify(body);
  });
  loadVoices();
})();
