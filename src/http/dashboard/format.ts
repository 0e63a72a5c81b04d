/** How the dashboard writes numbers, durations and JSON. */

const INT = new Intl.NumberFormat('en-US');

/** 1234567 → "1,234,567". */
export function count(n: number): string {
  return INT.format(n);
}

/** Milliseconds as "850 ms", "4.2 s", "3 min 20 s", "5 h 2 min", "3 d 4 h". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  if (a < 1) return `${sign}${a.toFixed(2)} ms`;
  if (a < 1000) return `${sign}${a < 10 ? a.toFixed(1) : Math.round(a)} ms`;
  const s = a / 1000;
  if (s < 60) return `${sign}${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${sign}${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${sign}${h} h ${m % 60} min`;
  return `${sign}${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Pretty JSON, cut at `max` characters (with a note) when given. */
export function prettyJson(value: unknown, max?: number): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? 'null';
  } catch {
    text = String(value);
  }
  if (max !== undefined && text.length > max)
    return `${text.slice(0, max)}\n… (${count(text.length - max)} more characters)`;
  return text;
}

/** One line of JSON, cut at `max` characters. */
export function compactJson(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'null';
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The text cut at `max` characters. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value safe to use inside an HTML id: letters, digits, _ and -, the rest hex-escaped. */
export function domId(prefix: string, value: string): string {
  return `${prefix}-${value.replace(/[^A-Za-z0-9_-]/g, (ch) => `_${ch.charCodeAt(0).toString(16)}`)}`;
}
