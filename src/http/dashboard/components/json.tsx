import { prettyJson } from '../format.js';

/**
 * JSON as an indented, scrollable block (focusable, so a keyboard can
 * scroll it); `label` is its tooltip, the section heading names it.
 */
export function JsonBlock(props: { value: unknown; label: string; max?: number }) {
  return (
    <pre class="json" tabindex={0} title={props.label}>
      {prettyJson(props.value, props.max)}
    </pre>
  );
}
