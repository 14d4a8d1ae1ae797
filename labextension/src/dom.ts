/** Small DOM and formatting helpers shared by the panel and the sidebar. */

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  node.textContent = text;
  return node;
}

/** A JupyterLab-styled button: `accept` for the main action, `warn` for a destructive one. */
export function button(
  label: string,
  testid: string,
  style: 'accept' | 'reject' | 'warn' = 'reject'
): HTMLButtonElement {
  const node = element(
    'button',
    `jp-Button jp-mod-styled jp-mod-${style}`,
    label
  );
  node.dataset.testid = testid;
  return node;
}

/** A value as JSON, cut to `width` characters, for a table cell. */
export function shortJSON(value: unknown, width = 60): string {
  const text = JSON.stringify(value);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export function formatBytes(size: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}
