import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import {
  IDeployment,
  IDeploymentList,
  IDeployRequest,
  IProgressEvent,
  requestAPI
} from './api';
import { button, element } from './dom';
import { JobLine, runJob } from './jobs';
import { DEPLOY_DEFAULTS, MAX_REPLICAS } from './requests';

/** The consent asked for before a deploy turns swarm mode on; never done unasked. */
export const SWARM_CONSENT =
  'Turn on Docker swarm mode on this engine (one node, 127.0.0.1; undone by the last Undeploy)';

/** What is wrong with a replica count, for a person; empty when it is fine. */
export function checkReplicas(value: string, least = 1): string {
  const count = Number(value);
  return value.trim() && Number.isInteger(count)
    ? count >= least && count <= MAX_REPLICAS
      ? ''
      : `Replicas: from ${least} to ${MAX_REPLICAS}.`
    : 'Replicas: a whole number.';
}

/** What is wrong with a port, for a person; empty when it is fine (empty: a free one). */
export function checkPort(value: string): string {
  const port = Number(value);
  return !value.trim() || (Number.isInteger(port) && port > 0 && port < 65536)
    ? ''
    : 'Port: from 1 to 65535, or empty for a free one.';
}

interface IDeployChoice {
  replicas: string;
  port: string;
  name: string;
  initSwarm: boolean;
}

function labelled(label: string, input: HTMLElement, note = ''): HTMLElement {
  const field = element('label', 'jp-mlcontainer-field');
  field.append(element('span', 'jp-mlcontainer-label', label), input);
  if (note) {
    field.appendChild(element('span', 'jp-mlcontainer-note', note));
  }
  return field;
}

function numberInput(value: string, testid: string): HTMLInputElement {
  const input = element('input');
  input.type = 'number';
  input.value = value;
  input.dataset.testid = testid;
  return input;
}

/** The Deploy dialog's body: replicas, port, name, and swarm mode's consent when it is off. */
class DeployForm extends Widget {
  constructor(swarm: string, choice: IDeployChoice, problem: string) {
    super();
    this.addClass('jp-mlcontainer-form');
    this.node.dataset.testid = 'mlcontainer-deploy-dialog';
    this.replicas = numberInput(choice.replicas, 'mlcontainer-deploy-replicas');
    this.replicas.min = '1';
    this.replicas.max = String(MAX_REPLICAS);
    this.port = numberInput(choice.port, 'mlcontainer-deploy-port');
    this.port.placeholder = 'a free one';
    this.name = element('input');
    this.name.type = 'text';
    this.name.value = choice.name;
    this.name.placeholder = "the instance's or image's name";
    this.name.dataset.testid = 'mlcontainer-deploy-name';
    this.consent = element('input');
    this.consent.type = 'checkbox';
    this.consent.checked = choice.initSwarm;
    this.consent.dataset.testid = 'mlcontainer-deploy-init-swarm';
    this.node.append(
      labelled('Replicas', this.replicas, 'Copies behind one URL.'),
      labelled('Port', this.port, 'On 127.0.0.1.'),
      labelled('Name', this.name)
    );
    if (swarm === 'inactive') {
      const check = element('label', 'jp-mlcontainer-consent');
      check.append(this.consent, ` ${SWARM_CONSENT}`);
      this.node.append(
        element(
          'p',
          'jp-mlcontainer-note',
          "Replicas run as services of Docker's swarm mode, which is off on this engine."
        ),
        check
      );
    } else if (swarm !== 'active') {
      this.node.appendChild(
        element(
          'p',
          'jp-mlcontainer-push-invalid',
          `Docker's swarm mode is ${swarm} on this engine; deployments are made on a swarm manager.`
        )
      );
    }
    const message = element('span', 'jp-mlcontainer-push-invalid', problem);
    message.dataset.testid = 'mlcontainer-deploy-invalid';
    message.hidden = !problem;
    this.node.appendChild(message);
  }

  getValue(): IDeployChoice {
    return {
      replicas: this.replicas.value,
      port: this.port.value,
      name: this.name.value.trim(),
      initSwarm: this.consent.checked
    };
  }

  private readonly replicas: HTMLInputElement;
  private readonly port: HTMLInputElement;
  private readonly name: HTMLInputElement;
  private readonly consent: HTMLInputElement;
}

/** Ask how to deploy until the answer is usable; null when the user cancels. */
async function askForDeployment(
  source: string,
  swarm: string
): Promise<IDeployChoice | null> {
  let choice: IDeployChoice = {
    replicas: String(DEPLOY_DEFAULTS.replicas),
    port: '',
    name: '',
    initSwarm: false
  };
  let problem = '';
  for (;;) {
    const result = await showDialog({
      title: `Deploy ${source}`,
      body: new DeployForm(swarm, choice, problem),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Deploy', ariaLabel: 'Deploy replicas' })
      ],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    choice = result.value;
    problem =
      checkReplicas(choice.replicas) ||
      checkPort(choice.port) ||
      (swarm === 'inactive' && !choice.initSwarm
        ? 'Tick the box to turn on swarm mode, or cancel.'
        : '');
    if (!problem) {
      return choice;
    }
  }
}

/** "n of m replicas running" as the bar under an action; other events as its caption. */
function progress(line: JobLine, title: string, event?: IProgressEvent): void {
  const bar = element('progress', 'jp-mlcontainer-progress');
  const counts = /(\d+) of (\d+) replicas running/.exec(event?.message ?? '');
  if (counts) {
    bar.max = Number(counts[2]) || 1;
    bar.value = Number(counts[1]);
  } else {
    bar.removeAttribute('value'); // indeterminate
  }
  line.show(
    'running',
    element('div', '', title),
    bar,
    element('div', 'jp-mlcontainer-muted', event?.message ?? 'starting')
  );
}

/** Follow one deployment job on `line`, with `title` above its progress. */
function follow<R>(
  line: JobLine,
  title: string,
  endpoint: string,
  init: { method: string; body?: unknown },
  signal: AbortSignal
) {
  progress(line, title);
  return runJob<R>(line, endpoint, init, e => progress(line, title, e), signal);
}

function link(url: string): HTMLElement {
  if (!url) {
    return element('span', '', 'no URL (its front is not running)');
  }
  const anchor = element('a', '', url);
  anchor.href = url;
  anchor.target = '_blank';
  anchor.rel = 'noopener';
  return anchor;
}

/**
 * A Deploy button and the line under it: the dialog, the deploy job's progress, then the
 * deployment's URL, or the error with its hint and the failed replica's log.
 */
export class DeployControl {
  constructor(
    private readonly source: string,
    testid: string,
    private readonly changed: () => void
  ) {
    this.button = button('Deploy', testid);
    this.button.title = 'Run replicas of this image behind one URL';
    this.button.onclick = () => void this.deploy();
    this.line = new JobLine(
      'jp-mlcontainer-push',
      'mlcontainer-deploy-status',
      'mlcontainer-deploy-error'
    );
  }

  readonly button: HTMLButtonElement;
  readonly line: JobLine;

  /** Stop following the job (it goes on in the server). */
  dispose(): void {
    this.abort.abort();
  }

  private async deploy(): Promise<void> {
    let swarm: string;
    try {
      swarm = (await requestAPI<IDeploymentList>('deployments')).swarm;
    } catch (error) {
      this.line.fail((error as Error).message);
      return;
    }
    const choice = await askForDeployment(this.source, swarm);
    if (!choice) {
      return;
    }
    const body: IDeployRequest = {
      source: this.source,
      replicas: Number(choice.replicas),
      port: choice.port ? Number(choice.port) : undefined,
      name: choice.name || undefined,
      init_swarm: choice.initSwarm || undefined
    };
    this.button.disabled = true;
    try {
      const job = await follow<IDeployment>(
        this.line,
        `Deploying ${body.replicas} replicas of ${this.source}…`,
        'deployments',
        { method: 'POST', body },
        this.abort.signal
      );
      if (job?.result) {
        const done = element('div', '', `Deployed ${job.result.name} at `);
        done.dataset.testid = 'mlcontainer-deploy-result';
        done.appendChild(link(job.result.url));
        this.line.show(
          'succeeded',
          done,
          element(
            'div',
            'jp-mlcontainer-muted',
            `${job.result.running}/${job.result.replicas} replicas running`
          )
        );
      }
    } finally {
      this.button.disabled = false;
      this.changed();
    }
  }

  private readonly abort = new AbortController();
}

/** Swarm's state of the last rollout, for a person. */
function rolloutState(update: string): string {
  switch (update) {
    case '':
      return 'no rollout yet';
    case 'completed':
      return 'last rollout completed';
    case 'rollback_completed':
      return 'last rollout rolled back';
    case 'updating':
      return 'rolling out…';
    default:
      return `last rollout ${update.replace(/_/g, ' ')}`;
  }
}

/**
 * One deployment in the sidebar: its URL, replicas and image, with Scale, Roll out and
 * Undeploy. The item lives across the sidebar's refreshes, so a typed replica count and a
 * running action's progress survive them.
 */
export class DeploymentItem {
  constructor(
    deployment: IDeployment,
    private readonly changed: () => void
  ) {
    this.name = deployment.name;
    this.node = element('li', 'jp-mlcontainer-instance');
    this.node.dataset.testid = 'mlcontainer-deployment';
    this.node.dataset.name = this.name;
    this.url = element('div', 'jp-mlcontainer-muted');
    this.url.dataset.testid = 'mlcontainer-deployment-url';
    this.counts = element('span');
    this.counts.dataset.testid = 'mlcontainer-deployment-replicas';
    this.facts = element('span');
    const summary = element('div', 'jp-mlcontainer-muted');
    summary.append(this.counts, this.facts);

    this.replicas = numberInput(
      String(deployment.replicas),
      'mlcontainer-scale-replicas'
    );
    this.replicas.className = 'jp-mlcontainer-replicas';
    this.replicas.min = '0';
    this.replicas.max = String(MAX_REPLICAS);
    this.replicas.title = 'Replicas wanted';
    this.scaleButton = button('Scale', 'mlcontainer-scale');
    this.scaleButton.onclick = () => void this.scale();
    this.rolloutButton = button('Roll out', 'mlcontainer-rollout');
    this.rolloutButton.title =
      "Replace the replicas one by one with the notebook's latest build";
    this.rolloutButton.onclick = () => void this.rollout();
    this.undeployButton = button('Undeploy', 'mlcontainer-undeploy', 'warn');
    this.undeployButton.onclick = () => void this.undeploy();
    const actions = element('div', 'jp-mlcontainer-actions');
    actions.append(
      this.replicas,
      this.scaleButton,
      this.rolloutButton,
      this.undeployButton
    );
    this.line = new JobLine(
      'jp-mlcontainer-push',
      'mlcontainer-deployment-status',
      'mlcontainer-deployment-error'
    );
    this.node.append(
      element('div', 'jp-mlcontainer-instance-name', this.name),
      this.url,
      summary,
      actions,
      this.line.node
    );
    this.update(deployment);
  }

  readonly name: string;
  readonly node: HTMLElement;

  /** True while one of its actions runs: the sidebar keeps it even when it is not listed. */
  get busy(): boolean {
    return this.scaleButton.disabled;
  }

  update(deployment: IDeployment): void {
    this.url.replaceChildren(link(deployment.url));
    this.counts.textContent = `${deployment.running}/${deployment.replicas} running`;
    this.facts.textContent = ` · ${deployment.image} · ${rolloutState(deployment.update)}`;
  }

  dispose(): void {
    this.abort.abort();
  }

  private async scale(): Promise<void> {
    const problem = checkReplicas(this.replicas.value, 0);
    if (problem) {
      this.line.fail(problem);
      return;
    }
    const count = Number(this.replicas.value);
    await this.act(
      `Scaling ${this.name} to ${count}…`,
      `deployments/${this.name}`,
      { method: 'PATCH', body: { replicas: count } },
      done => `Scaled to ${done?.running}/${done?.replicas} replicas`
    );
  }

  private async rollout(): Promise<void> {
    await this.act(
      `Rolling ${this.name} out to the notebook's latest build…`,
      `deployments/${this.name}/rollout`,
      { method: 'POST', body: {} },
      done => `Now running ${done?.image}`
    );
  }

  private async undeploy(): Promise<void> {
    const answer = await showDialog({
      title: `Undeploy ${this.name}?`,
      body: 'Its replicas, its front and its network are removed; its URL stops answering.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Undeploy' })]
    });
    if (answer.button.accept) {
      await this.act(
        `Undeploying ${this.name}…`,
        `deployments/${this.name}`,
        { method: 'DELETE' },
        () => `Undeployed ${this.name}`
      );
    }
  }

  /** Run one action's job on the item's line, then refresh the sidebar. */
  private async act(
    title: string,
    endpoint: string,
    init: { method: string; body?: unknown },
    outcome: (result: IDeployment | null) => string
  ): Promise<void> {
    const buttons = [this.scaleButton, this.rolloutButton, this.undeployButton];
    buttons.forEach(node => (node.disabled = true));
    try {
      const job = await follow<IDeployment>(
        this.line,
        title,
        endpoint,
        init,
        this.abort.signal
      );
      if (job) {
        if (job.result) {
          this.update(job.result);
        }
        const done = element('div', '', outcome(job.result));
        done.dataset.testid = 'mlcontainer-deployment-result';
        this.line.show('succeeded', done);
      }
    } finally {
      buttons.forEach(node => (node.disabled = false));
      this.changed();
    }
  }

  private readonly abort = new AbortController();
  private readonly url: HTMLElement;
  private readonly counts: HTMLElement;
  private readonly facts: HTMLElement;
  private readonly replicas: HTMLInputElement;
  private readonly scaleButton: HTMLButtonElement;
  private readonly rolloutButton: HTMLButtonElement;
  private readonly undeployButton: HTMLButtonElement;
  private readonly line: JobLine;
}
