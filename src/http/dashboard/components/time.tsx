/**
 * A timestamp: rendered in UTC, and rewritten in the browser to the
 * viewer's time zone by dashboard.js, which keeps UTC in the title (hover).
 */
export function utcText(d: Date): string {
  return `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function Time(props: { at: Date | string | null | undefined }) {
  if (props.at === null || props.at === undefined) return <span class="muted">—</span>;
  const d = props.at instanceof Date ? props.at : new Date(props.at);
  if (Number.isNaN(d.getTime())) return <span class="muted">{String(props.at)}</span>;
  const utc = utcText(d);
  return (
    <time datetime={d.toISOString()} title={utc}>
      {utc}
    </time>
  );
}
