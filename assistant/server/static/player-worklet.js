// Streaming playback: a queue of Float32Array chunks, played as they arrive; "flush" drops them.
class StreamPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.offset = 0;
    this.queued = 0;
    this.played = 0;
    this.peak = 0;
    this.sinceReport = 0;
    this.wasPlaying = false;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "audio") {
        this.queue.push(m.samples);
        this.queued += m.samples.length;
      } else if (m.type === "flush") {
        this.queue = [];
        this.offset = 0;
        this.queued = 0;
        this.report(true);
      }
    };
  }
  report(force) {
    this.port.postMessage({ type: "stats", played: this.played, queued: this.queued, peak: this.peak, flushed: !!force });
    this.sinceReport = 0;
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (i < out.length && this.queue.length) {
      const head = this.queue[0];
      const k = Math.min(out.length - i, head.length - this.offset);
      for (let j = 0; j < k; j++) {
        const v = head[this.offset + j];
        out[i + j] = v;
        const a = Math.abs(v);
        if (a > this.peak) this.peak = a;
      }
      i += k;
      this.offset += k;
      if (this.offset >= head.length) { this.queue.shift(); this.offset = 0; }
    }
    for (; i < out.length; i++) out[i] = 0;
    const n = Math.min(out.length, this.queued);
    this.queued -= n;
    this.played += n;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    const playing = this.queued > 0;
    this.sinceReport += out.length;
    if (playing !== this.wasPlaying || this.sinceReport >= 1600) {
      this.wasPlaying = playing;
      this.report(false);
    }
    return true;
  }
}
registerProcessor("stream-player", StreamPlayer);
