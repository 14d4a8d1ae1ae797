import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IProgressEvent, IPushRequest, IPushResult } from './api';
import { button, element, formatBytes } from './dom';
import { JobLine, runJob } from './jobs';

/** The registry pushes go to unless the user types another, kept in the settings. */
export interface IRegistrySetting {
  /** `REGISTRY[/NAMESPACE]`, e.g. 127.0.0.1:5000/team; empty when never set. */
  get(): string;
  remember(registry: string): void;
}

// REGISTRY/REPOSITORY[:TAG] in Docker's reference grammar, as the server checks it.
const HOST =
  '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?';
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const TARGET = new RegExp(
  `^${HOST}/${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?$`
);
const EXAMPLE = '127.0.0.1:5000/team/iris';

/** What is wrong with a push destination, for a person; empty when it is fine. */
export function checkTarget(target: string): string {
  const host = target.split('/')[0];
  const hostLike =
    host === 'localhost' || host.includes('.') || host.includes(':');
  if (!target.includes('/') || !hostLike) {
    return `Start with the registry's host (with a dot, a port or localhost), then /REPOSITORY[:TAG], e.g. ${EXAMPLE}.`;
  }
  if (!TARGET.test(target)) {
    return 'The repository takes lowercase letters, digits and . _ - separated by /; the tag after : up to 128 letters, digits, _ . -';
  }
  return '';
}

/** `<registry>/<image name>`: the name without namespace and tag, as the user last pushed it. */
export function proposeTarget(registry: string, image: string): string {
  const name = image.split('/').pop()!.split(/[:@]/)[0];
  const prefix = registry.trim().replace(/\/+$/, '');
  return prefix ? `${prefix}/${name}` : name;
}

/** The part of a destination to remember: all but its last component (`host/team`). */
export function registryOf(target: string): string {
  return target.slice(0, target.lastIndexOf('/'));
}

/** The dialog's body: the destination, checked as it is typed. */
class PushForm extends Widget {
  constructor(value: string) {
    super();
    this.addClass('jp-mlcontainer-form');
    this.node.dataset.testid = 'mlcontainer-push-dialog';
    this.input = element('input');
    this.input.type = 'text';
    this.input.spellcheck = false;
    this.input.placeholder = EXAMPLE;
    this.input.value = value;
    this.input.dataset.testid = 'mlcontainer-push-target';
    this.message = element('span', 'jp-mlcontainer-push-invalid');
    this.message.dataset.testid = 'mlcontainer-push-invalid';
    const field = element('label', 'jp-mlcontainer-field');
    field.append(
      element('span', 'jp-mlcontainer-label', 'Destination'),
      this.input,
      this.message,
      element(
        'span',
        'jp-mlcontainer-note',
        "REGISTRY/REPOSITORY[:TAG]; the tag defaults to the image's content hash."
      )
    );
    this.node.appendChild(field);
    this.input.addEventListener('input', () => this.check());
    this.check();
  }

  getValue(): string {
    return this.input.value.trim();
  }

  private check(): void {
    this.message.textContent = checkTarget(this.getValue());
    this.message.hidden = !this.message.textContent;
  }

  private readonly input: HTMLInputElement;
  private readonly message: HTMLElement;
}

/** Ask where to push until the answer has the right shape; null when the user cancels. */
async function askForTarget(
  source: string,
  proposal: string
): Promise<string | null> {
  let value = proposal;
  for (;;) {
    const result = await showDialog({
      title: `Push ${source}`,
      body: new PushForm(value),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Push', ariaLabel: 'Push the image' })
      ],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    value = result.value;
    if (!checkTarget(value)) {
      return value;
    }
  }
}

/**
 * A Push button and the line under it that follows the push job: layer n of m and the
 * bytes sent, then `target@digest` to copy, or the error and what to do about it.
 */
export class PushControl {
  constructor(
    private readonly source: string,
    private readonly image: string,
    private readonly registry: IRegistrySetting,
    testid: string
  ) {
    this.button = button('Push', testid);
    this.button.title = 'Push the image to a registry';
    this.button.onclick = () => void this.push();
    this.line = new JobLine(
      'jp-mlcontainer-push',
      'mlcontainer-push-status',
      'mlcontainer-push-error'
    );
    this.status = this.line.node;
  }

  readonly button: HTMLButtonElement;
  readonly status: HTMLElement;

  /** Stop following the job (it goes on in the server). */
  dispose(): void {
    this.abort?.abort();
  }

  private async push(): Promise<void> {
    const target = await askForTarget(
      this.source,
      proposeTarget(this.registry.get(), this.image)
    );
    if (!target) {
      return;
    }
    this.button.disabled = true;
    this.abort = new AbortController();
    this.showProgress(target, 0, 0, 0);
    let sent = 0;
    const onEvent = (event: IProgressEvent) => {
      if (event.kind === 'step') {
        sent += Number(/sent ([\d.]+) MB/.exec(event.message)?.[1] ?? 0) * 1e6;
        this.showProgress(target, event.step, event.total, sent);
      }
    };
    const body: IPushRequest = { source: this.source, to: target };
    try {
      const job = await runJob<IPushResult>(
        this.line,
        'push',
        { method: 'POST', body },
        onEvent,
        this.abort.signal
      );
      if (job?.result) {
        this.showResult(job.result);
        this.registry.remember(registryOf(target));
      }
    } finally {
      this.button.disabled = false;
    }
  }

  private showProgress(
    target: string,
    step: number,
    total: number,
    sent: number
  ): void {
    const bar = element('progress', 'jp-mlcontainer-progress');
    bar.max = total || 1;
    bar.value = step;
    const layers = total ? `layer ${step} of ${total}` : 'starting';
    this.line.show(
      'running',
      element('div', '', `Pushing to ${target}…`),
      bar,
      element(
        'div',
        'jp-mlcontainer-muted',
        `${layers} · ${formatBytes(sent)} sent`
      )
    );
  }

  private showResult(result: IPushResult): void {
    const reference = `${result.target}@${result.digest}`;
    const code = element('code', 'jp-mlcontainer-push-ref', reference);
    code.dataset.testid = 'mlcontainer-push-result';
    const copy = button('Copy', 'mlcontainer-push-copy');
    copy.onclick = () => {
      Clipboard.copyToSystem(reference);
      copy.textContent = 'Copied';
    };
    const line = element('div', 'jp-mlcontainer-push-line');
    line.append(element('span', '', 'Pushed '), code, copy);
    this.line.show(
      'succeeded',
      line,
      element(
        'div',
        'jp-mlcontainer-muted',
        `${result.layers_sent} of ${result.layers} layers sent, ${formatBytes(result.bytes_sent)}`
      )
    );
  }

  private readonly line: JobLine;
  private abort: AbortController | null = null;
}
