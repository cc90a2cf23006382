// Reconnect delays: exponential with jitter, so a restarted server is not hit by every visitor at once.

/** Milliseconds to wait before reconnect attempt `attempt` (0-based): base·2^attempt capped at max, 50–100 % of it. */
export function backoff(attempt: number, random: () => number = Math.random, base = 1000, max = 30_000): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling * (0.5 + random() / 2));
}
