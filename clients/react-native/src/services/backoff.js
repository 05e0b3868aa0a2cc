'use strict';
// Exponential backoff: min, min*factor, ... capped at max, forever.
// With the defaults: 500, 1000, 2000, 4000, 5000, 5000, ... ms — the same
// schedule socket.io-client uses for the socket (reconnectionDelay 500,
// reconnectionDelayMax 5000), applied here to REST retries.
// jitter in [0, 1): each delay is randomized by ±jitter (0 = deterministic).

class Backoff {
  constructor({ min = 500, max = 5000, factor = 2, jitter = 0, random = Math.random } = {}) {
    this.min = min;
    this.max = max;
    this.factor = factor;
    this.jitter = jitter;
    this.random = random;
    this.attempts = 0;
  }

  next() {
    const base = Math.min(this.max, this.min * Math.pow(this.factor, this.attempts));
    this.attempts += 1;
    if (!this.jitter) return base;
    const delta = base * this.jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.min(this.max, Math.round(base + delta)));
  }

  reset() {
    this.attempts = 0;
  }
}

module.exports = { Backoff };
