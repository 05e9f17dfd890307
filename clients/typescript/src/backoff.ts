/**
 * How long a subscription waits before reconnecting: exponential, capped,
 * jittered.
 *
 * The n-th consecutive failed attempt (n = 0, 1, …) waits a random time in
 * `[d/2, d]`, where `d = min(maxDelayMs, initialDelayMs * multiplier ** n)`
 * ("equal jitter"): clients that lost the same server do not all come back in
 * the same millisecond, and none waits longer than `maxDelayMs`. A stream
 * that delivers anything resets the count. The defaults are the Python
 * client's.
 *
 * @module
 */

/** The settings of a {@link Backoff}; every one is optional. */
export interface BackoffOptions {
  /** The longest wait after the first failure. Defaults to 100 ms. */
  initialDelayMs?: number;
  /** No wait is longer than this. Defaults to 10 000 ms. */
  maxDelayMs?: number;
  /** Growth of the wait per consecutive failure. Defaults to 2. */
  multiplier?: number;
  /**
   * Consecutive failed attempts before giving up; `undefined` (the default)
   * retries for ever: a consumer usually wants to outlive a server outage.
   */
  maxAttempts?: number | undefined;
}

/** The reconnection policy of a subscription. */
export class Backoff {
  /** The longest wait after the first failure, in milliseconds. */
  readonly initialDelayMs: number;
  /** No wait is longer than this, in milliseconds. */
  readonly maxDelayMs: number;
  /** Growth of the wait per consecutive failure. */
  readonly multiplier: number;
  /** Consecutive failed attempts before giving up; `undefined`: never. */
  readonly maxAttempts: number | undefined;

  /**
   * @param options - The policy; the defaults retry for ever, 50 ms to 10 s apart.
   * @throws {RangeError} When the settings contradict each other.
   */
  constructor(options: BackoffOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.multiplier = options.multiplier ?? 2;
    this.maxAttempts = options.maxAttempts;
    if (!(this.initialDelayMs > 0) || !(this.maxDelayMs >= this.initialDelayMs)) {
      throw new RangeError("need 0 < initialDelayMs <= maxDelayMs");
    }
    if (!(this.multiplier >= 1)) {
      throw new RangeError("multiplier must be at least 1");
    }
    if (
      this.maxAttempts !== undefined &&
      !(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)
    ) {
      throw new RangeError("maxAttempts must be an integer of at least 1 (or undefined)");
    }
  }

  /**
   * The wait before retrying after the `attempt`-th consecutive failure (from 0).
   *
   * @param attempt - How many failures came right before this one.
   * @param random - A source of numbers in `[0, 1)` (tests pass a fixed one).
   * @returns Milliseconds, in `[d/2, d]` with `d` capped at `maxDelayMs`.
   */
  delay(attempt: number, random: () => number = Math.random): number {
    // Cap the exponent so a long outage cannot overflow to Infinity.
    const exponent = Math.min(Math.max(attempt, 0), 64);
    const ceiling = Math.min(this.maxDelayMs, this.initialDelayMs * this.multiplier ** exponent);
    return ceiling / 2 + random() * (ceiling / 2);
  }

  /** True when `failures` consecutive failed attempts mean giving up. */
  exhausted(failures: number): boolean {
    return this.maxAttempts !== undefined && failures >= this.maxAttempts;
  }
}
