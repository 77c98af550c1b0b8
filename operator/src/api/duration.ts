/**
 * Go-style durations ("30s", "1h30m", "1.5s", "250ms"), the format the CRDs' duration fields
 * take (their pattern is `^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`, checked by CEL's duration()).
 */
const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g;

/** Milliseconds, rounded to the nearest one; throws on anything the CRD pattern refuses. */
export function parseDurationMs(text: string): number {
  if (!WHOLE.test(text)) throw new Error(`"${text}" is not a duration such as 30s, 5m or 1h30m`);
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
  return Math.round(ms);
}
