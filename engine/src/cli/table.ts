/**
 * Formatting query results for a terminal (aligned tables, psql style) and as JSON. Pure.
 */

/** Blobs longer than this show their first bytes only. */
const BLOB_PREVIEW_BYTES = 32;

/** One value as it appears in a table cell. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return escapeControl(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) {
    const hex = Buffer.from(v.buffer, v.byteOffset, Math.min(v.byteLength, BLOB_PREVIEW_BYTES)).toString('hex');
    return v.byteLength > BLOB_PREVIEW_BYTES ? `x'${hex}…' (${v.byteLength} bytes)` : `x'${hex}'`;
  }
  return escapeControl(JSON.stringify(v, jsonReplacer) ?? String(v));
}

/** Control characters would break the table's lines: show them as escapes. */
function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

/** Columns a string takes in a terminal: wide (CJK, emoji) characters take two, marks none. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (/[\p{Mn}\p{Me}\u200b-\u200f]/u.test(ch)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

const pad = (s: string, width: number, align: 'left' | 'right' | 'center'): string => {
  const gap = Math.max(0, width - displayWidth(s));
  if (align === 'right') return ' '.repeat(gap) + s;
  if (align === 'center') return ' '.repeat(Math.floor(gap / 2)) + s + ' '.repeat(gap - Math.floor(gap / 2));
  return s + ' '.repeat(gap);
};

/**
 * Rows as an aligned table with a header and a row count, psql style:
 *
 *      id | name
 *     ----+-------
 *       1 | alice
 *     (1 row)
 *
 * Numbers are right-aligned, everything else left-aligned; NULL shows as NULL, blobs as x'..'.
 */
export function formatTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const count = `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`;
  const width = Math.max(columns.length, ...rows.map((r) => r.length));
  if (width === 0) return count;
  const headers = Array.from({ length: width }, (_, i) => escapeControl(columns[i] ?? ''));
  const cells = rows.map((r) => Array.from({ length: width }, (_, i) => formatValue(r[i])));
  const isNumber = (v: unknown): boolean => typeof v === 'number' || typeof v === 'bigint';
  const numeric = Array.from({ length: width }, (_, i) => rows.some((r) => isNumber(r[i])) && rows.every((r) => r[i] === null || r[i] === undefined || isNumber(r[i])));
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...cells.map((r) => displayWidth(r[i] as string))));
  const line = (parts: string[]): string => ` ${parts.join(' | ')}`.trimEnd();
  const out = [
    line(headers.map((h, i) => pad(h, widths[i] as number, 'center'))),
    widths.map((w) => '-'.repeat(w + 2)).join('+'),
    ...cells.map((r) => line(r.map((c, i) => pad(c, widths[i] as number, numeric[i] ? 'right' : 'left')))),
    count,
  ];
  return out.join('\n');
}

/**
 * JSON.stringify's replacer for results: bigints (integers beyond 2^53) become strings of their
 * exact digits, blobs base64 strings.
 */
export function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  // A Buffer has already been through its toJSON here: take the original from its holder.
  const original = typeof this === 'object' && this !== null ? (this as Record<string, unknown>)[key] : value;
  if (original instanceof Uint8Array) value = original;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  return value;
}

/** A value as JSON, with jsonReplacer. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, jsonReplacer, indent) ?? 'null';
}
