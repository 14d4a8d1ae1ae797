import { IReplacement } from './api';
import { element, shortJSON } from './dom';

/** One answer of a side; '-' where that side gave fewer. */
function answer(value: unknown): string {
  return value === undefined ? '-' : shortJSON(value, 40);
}

/**
 * How a build under a serving name replaced what served, and the sample's answers of the
 * old and the new model side by side (as `jupyter mlcontainer build` prints them), so a
 * redeploy shows what changed for callers.
 */
export function replacementView(replacement: IReplacement): HTMLElement {
  const node = element('section', 'jp-mlcontainer-parity');
  node.dataset.testid = 'mlcontainer-replacement';
  node.dataset.how = replacement.how;
  const how =
    replacement.how === 'rollout'
      ? 'rolled out (no request failed)'
      : replacement.how === 'handover'
        ? 'handed over on its port (the new model took requests once it answered the sample)'
        : `restarted on its port (${replacement.gap_seconds.toFixed(1)} s without a listener; a deployment is replaced with none)`;
  node.append(
    element('h3', '', `Replaced ${replacement.previous_image}`),
    element('p', '', `${how}; still at ${replacement.url}`)
  );
  const before = replacement.before ?? [];
  const after = replacement.after ?? [];
  const table = element('table');
  const head = element('tr');
  for (const title of ['Row', 'Before', 'After', '']) {
    head.appendChild(element('th', '', title));
  }
  table.appendChild(head);
  for (let index = 0; index < Math.max(before.length, after.length); index++) {
    const changed =
      JSON.stringify(before[index]) !== JSON.stringify(after[index]);
    const row = element('tr', changed ? 'jp-mod-fail' : 'jp-mod-pass');
    row.dataset.testid = 'mlcontainer-replacement-row';
    row.dataset.changed = String(changed);
    row.append(
      element('td', '', String(index)),
      element('td', '', answer(before[index])),
      element('td', '', answer(after[index])),
      element('td', 'jp-mlcontainer-verdict', changed ? 'changed' : 'same')
    );
    table.appendChild(row);
  }
  node.appendChild(table);
  return node;
}
