// Microphone capture: gathers render quanta into 512-sample blocks and posts int16 PCM.
class MicCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Int16Array(512);
    this.n = 0;
    this.level = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (input && input.length) {
      const ch = input[0];
      for (let i = 0; i < ch.length; i++) {
        const v = Math.max(-1, Math.min(1, ch[i]));
        this.level = Math.max(this.level * 0.999, Math.abs(v));
        this.block[this.n++] = v < 0 ? v * 32768 : v * 32767;
        if (this.n === this.block.length) {
          this.port.postMessage({ pcm: this.block.buffer, level: this.level }, [this.block.buffer]);
          this.block = new Int16Array(512);
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("mic-capture", MicCapture);
