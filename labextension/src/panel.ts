import { Widget } from '@lumino/widgets';

import {
  APIError,
  followJob,
  IBuildResult,
  IJob,
  IPredictResponse,
  IProgressEvent,
  postJSON,
  requestAPI
} from './api';
import { DeployControl } from './deploy';
import { button, element, formatBytes, formatDuration, shortJSON } from './dom';
import { IRegistrySetting, PushControl } from './push';
import { replacementView } from './replacement';
import { reportView, ShowCell } from './report';

/** What a build panel asks of the rest of the extension. */
export interface IPanelActions {
  /** A deployment was made: the sidebar lists it. */
  deployed(): void;
  /**
   * Build the notebook again with the same choices, in a new panel; null when this page
   * does not know the choices (a panel reopened from the sidebar).
   */
  redeploy: (() => Promise<void>) | null;
  /** Show a cell of the built notebook. */
  showCell: ShowCell;
}

/** The pipeline's stages, in order, as workflow.containerize announces them. */
const STAGES = [
  'analyse',
  'capture',
  'environment',
  'render',
  'build',
  'run',
  'check'
];

/**
 * A build's progress and outcome: stages, a progress bar, the streaming log,
 * then the instance's URL, the parity check and a box to send test requests.
 * It follows the job's event stream, which replays from the start, so a
 * reloaded page reattaches to a running build.
 */
export class BuildPanel extends Widget {
  constructor(
    readonly jobId: string,
    notebook: string,
    private readonly registry: IRegistrySetting,
    private readonly actions: IPanelActions
  ) {
    super();
    this.id = `mlcontainer-build-${jobId}`;
    this.addClass('jp-mlcontainer-panel');
    this.node.dataset.testid = 'mlcontainer-panel';
    this.node.dataset.jobId = jobId;
    this.title.label = `Containerize: ${notebook.split('/').pop()}`;
    this.title.closable = true;

    const header = element('div', 'jp-mlcontainer-header');
    this.statusBadge = element('span', 'jp-mlcontainer-badge', 'queued');
    this.statusBadge.dataset.testid = 'mlcontainer-status';
    this.elapsed = element('span', 'jp-mlcontainer-elapsed', '0s');
    this.elapsed.dataset.testid = 'mlcontainer-elapsed';
    this.cancelButton = button('Cancel', 'mlcontainer-cancel');
    this.cancelButton.onclick = () => this.cancel();
    header.append(
      element('h2', '', notebook),
      this.statusBadge,
      this.elapsed,
      this.cancelButton
    );

    this.stageList = element('ol', 'jp-mlcontainer-stages');
    for (const stage of STAGES) {
      const item = element('li', '', stage);
      item.dataset.stage = stage;
      this.stageList.appendChild(item);
    }
    this.bar = element('progress', 'jp-mlcontainer-progress');
    this.bar.max = 1;
    this.bar.value = 0;
    this.bar.dataset.testid = 'mlcontainer-progress';
    this.stepLabel = element('div', 'jp-mlcontainer-step');

    this.log = element('pre', 'jp-mlcontainer-log');
    this.log.dataset.testid = 'mlcontainer-log';
    this.errorBox = element('div', 'jp-mlcontainer-error');
    this.errorBox.dataset.testid = 'mlcontainer-error';
    this.errorBox.hidden = true;
    this.resultBox = element('div', 'jp-mlcontainer-result');
    this.resultBox.dataset.testid = 'mlcontainer-result';
    this.resultBox.hidden = true;

    const logDetails = element('details', 'jp-mlcontainer-log-details');
    logDetails.open = true;
    logDetails.append(element('summary', '', 'Build log'), this.log);
    this.logDetails = logDetails;

    this.node.append(
      header,
      this.stageList,
      this.bar,
      this.stepLabel,
      this.errorBox,
      this.resultBox,
      logDetails
    );
    this.follow();
  }

  dispose(): void {
    this.abort.abort();
    this.push?.dispose();
    this.deploy?.dispose();
    window.clearInterval(this.timer);
    super.dispose();
  }

  private async follow(): Promise<void> {
    let job: IJob;
    try {
      const first = await requestAPI<IJob>(`jobs/${this.jobId}`);
      this.created = first.created;
      this.timer = window.setInterval(() => this.tick(), 1000);
      job = await followJob(
        this.jobId,
        e => this.onEvent(e),
        this.abort.signal
      );
    } catch (error) {
      if (!this.isDisposed) {
        this.showError(error as Error);
      }
      return;
    }
    this.finish(job);
  }

  private tick(finished?: number | null): void {
    const end = finished ?? Date.now() / 1000;
    this.elapsed.textContent = formatDuration(end - this.created);
  }

  private onEvent(event: IProgressEvent): void {
    this.setStatus('running');
    if (event.kind === 'stage') {
      this.markStage(event.stage);
    }
    if (event.kind === 'step' || event.kind === 'cache') {
      this.stepLabel.textContent = `Step ${event.step}/${event.total}: ${event.message}${event.kind === 'cache' ? ' (cached)' : ''}`;
    }
    this.updateProgress(event);
    if (event.kind === 'stage' || event.kind === 'step') {
      this.appendLog(`▸ ${event.message}`, `jp-mlcontainer-log-${event.kind}`);
    } else if (event.kind !== 'cache') {
      this.appendLog(event.message, `jp-mlcontainer-log-${event.kind}`);
    }
  }

  private markStage(stage: string): void {
    let reached = false;
    for (const item of Array.from(this.stageList.children) as HTMLElement[]) {
      const current = item.dataset.stage === stage;
      reached = reached || current;
      item.classList.toggle('jp-mod-current', current);
      item.classList.toggle('jp-mod-done', !reached);
    }
  }

  private updateProgress(event: IProgressEvent): void {
    const index = STAGES.indexOf(event.stage);
    if (index < 0) {
      return;
    }
    const within =
      event.stage === 'build' && event.total
        ? (event.step - 1) / event.total
        : 0;
    this.bar.value = Math.max(
      Number(this.bar.value),
      (index + within) / STAGES.length
    );
  }

  private appendLog(text: string, className: string): void {
    const line = element('span', className, `${text}\n`);
    this.log.appendChild(line);
    if (className === 'jp-mlcontainer-log-error') {
      line.scrollIntoView({ block: 'center' });
    } else {
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  private setStatus(status: string): void {
    this.statusBadge.textContent = status;
    this.statusBadge.dataset.status = status;
  }

  private finish(job: IJob): void {
    window.clearInterval(this.timer);
    this.tick(job.finished);
    this.setStatus(job.status);
    this.cancelButton.hidden = true;
    if (job.status === 'succeeded' && job.result) {
      this.bar.value = 1;
      for (const item of Array.from(this.stageList.children)) {
        item.classList.remove('jp-mod-current');
        item.classList.add('jp-mod-done');
      }
      this.stepLabel.textContent = '';
      this.logDetails.open = false;
      this.showResult(job.result);
    } else if (job.error) {
      this.showError(
        new APIError(job.error.message, job.error.hint, 0),
        job.error.output
      );
    }
  }

  private showError(error: Error, output = ''): void {
    this.errorBox.hidden = false;
    this.errorBox.replaceChildren(element('strong', '', error.message));
    const hint = error instanceof APIError ? error.hint : '';
    if (hint) {
      this.errorBox.appendChild(element('p', '', hint));
    }
    if (output) {
      this.errorBox.appendChild(element('pre', '', output));
    }
    this.errorBox.scrollIntoView({ block: 'nearest' });
  }

  private showResult(result: IBuildResult): void {
    const box = this.resultBox;
    box.hidden = false;
    box.replaceChildren();
    const facts = element('dl', 'jp-mlcontainer-facts');
    const fact = (label: string, value: Node | string, testid: string) => {
      const dd = element('dd');
      dd.dataset.testid = testid;
      dd.append(value);
      facts.append(element('dt', '', label), dd);
    };
    const instance = result.instance;
    if (instance?.url) {
      const link = element('a', '', instance.url);
      link.href = instance.url;
      link.target = '_blank';
      link.rel = 'noopener';
      fact('URL', link, 'mlcontainer-url');
      fact('Instance', instance.name, 'mlcontainer-instance');
    }
    fact('Image', result.tag, 'mlcontainer-tag');
    fact('Size', formatBytes(result.size), 'mlcontainer-size');
    fact('Build context', result.context, 'mlcontainer-context');
    box.appendChild(facts);
    box.appendChild(this.shipBox(result.tag, !!instance?.url));

    if (result.replacement) {
      box.appendChild(replacementView(result.replacement));
    }
    if (result.parity) {
      box.appendChild(this.parityTable(result.parity));
    }
    for (const warning of result.warnings) {
      box.appendChild(element('p', 'jp-mlcontainer-warning', warning));
    }
    if (instance?.url) {
      box.appendChild(this.testBox(instance.name, result.sample?.request));
    }
    if (result.report) {
      const report = element('details', 'jp-mlcontainer-panel-report');
      report.append(
        element('summary', '', 'What went into the image'),
        reportView(result.report, this.actions.showCell)
      );
      box.appendChild(report);
    }
  }

  /**
   * Push or deploy the built image (by its content-hash tag, so both work after the
   * instance stops); redeploy the notebook when an instance serves it.
   */
  private shipBox(image: string, serving: boolean): HTMLElement {
    this.push?.dispose();
    this.push = new PushControl(
      image,
      image,
      this.registry,
      'mlcontainer-push'
    );
    this.deploy?.dispose();
    this.deploy = new DeployControl(
      image,
      'mlcontainer-deploy',
      this.actions.deployed
    );
    const section = element('section', 'jp-mlcontainer-push-section');
    const actions = element('div', 'jp-mlcontainer-actions');
    actions.append(this.push.button, this.deploy.button);
    const redeploy = this.actions.redeploy;
    if (serving && redeploy) {
      actions.appendChild(this.redeployButton(redeploy));
    }
    section.append(actions, this.push.status, this.deploy.line.node);
    return section;
  }

  /**
   * Build again under the same name: the server replaces the instance (same URL) or rolls
   * out its deployment, and the new panel shows the old and new answers side by side.
   */
  private redeployButton(redeploy: () => Promise<void>): HTMLButtonElement {
    const node = button('Redeploy', 'mlcontainer-redeploy');
    node.title =
      'Build the notebook again with the same choices and replace this instance';
    node.onclick = async () => {
      node.disabled = true;
      try {
        await redeploy();
      } catch (error) {
        this.showError(error as Error);
      } finally {
        node.disabled = false;
      }
    };
    return node;
  }

  private parityTable(
    parity: NonNullable<IBuildResult['parity']>
  ): HTMLElement {
    const section = element('section', 'jp-mlcontainer-parity');
    section.dataset.testid = 'mlcontainer-parity';
    section.appendChild(
      element(
        'h3',
        '',
        `Parity with the notebook: ${parity.passed ? 'PASS' : 'FAIL'}`
      )
    );
    const table = element('table');
    const head = element('tr');
    for (const title of ['Row', 'Result', 'Notebook', 'Container', '']) {
      head.appendChild(element('th', '', title));
    }
    table.appendChild(head);
    for (const row of parity.rows) {
      const tr = element('tr', row.ok ? 'jp-mod-pass' : 'jp-mod-fail');
      tr.append(
        element('td', '', String(row.index)),
        element('td', 'jp-mlcontainer-verdict', row.ok ? 'PASS' : 'FAIL'),
        element('td', '', shortJSON(row.expected)),
        element('td', '', shortJSON(row.actual)),
        element('td', '', row.detail)
      );
      table.appendChild(tr);
    }
    section.appendChild(table);
    return section;
  }

  private testBox(instance: string, sample: unknown): HTMLElement {
    const section = element('section', 'jp-mlcontainer-test');
    section.appendChild(element('h3', '', 'Send a test request'));
    const input = element('textarea', 'jp-mlcontainer-request');
    input.dataset.testid = 'mlcontainer-request';
    input.spellcheck = false;
    input.value = JSON.stringify(sample ?? { instances: [] }, null, 2);
    const output = element('pre', 'jp-mlcontainer-response');
    output.dataset.testid = 'mlcontainer-response';
    output.hidden = true;
    const send = button('Send test request', 'mlcontainer-send', 'accept');
    const stop = button('Stop instance', 'mlcontainer-stop');
    send.onclick = async () => {
      let payload: unknown;
      try {
        payload = JSON.parse(input.value);
      } catch (error) {
        this.showResponse(
          output,
          `Not JSON: ${(error as Error).message}`,
          true
        );
        return;
      }
      send.disabled = true;
      try {
        const answer = await postJSON<IPredictResponse>(
          `instances/${instance}/predict`,
          { payload }
        );
        this.showResponse(
          output,
          `HTTP ${answer.status} in ${answer.latency_ms.toFixed(1)} ms\n${JSON.stringify(answer.body, null, 2)}`,
          answer.status >= 400
        );
      } catch (error) {
        this.showResponse(output, (error as Error).message, true);
      } finally {
        send.disabled = false;
      }
    };
    stop.onclick = async () => {
      stop.disabled = true;
      try {
        await requestAPI(`instances/${instance}`, { method: 'DELETE' });
        send.disabled = true;
        stop.textContent = 'Stopped';
        this.setStatus('stopped');
      } catch (error) {
        stop.disabled = false;
        this.showResponse(output, (error as Error).message, true);
      }
    };
    const actions = element('div', 'jp-mlcontainer-actions');
    actions.append(send, stop);
    section.append(input, actions, output);
    return section;
  }

  private showResponse(
    output: HTMLElement,
    text: string,
    failed: boolean
  ): void {
    output.hidden = false;
    output.textContent = text;
    output.classList.toggle('jp-mod-error', failed);
  }

  private async cancel(): Promise<void> {
    this.cancelButton.disabled = true;
    try {
      await requestAPI(`jobs/${this.jobId}`, { method: 'DELETE' });
    } catch (error) {
      this.showError(error as Error);
    }
  }

  private created = Date.now() / 1000;
  private push: PushControl | null = null;
  private deploy: DeployControl | null = null;
  private timer = 0;
  private readonly abort = new AbortController();
  private readonly statusBadge: HTMLElement;
  private readonly elapsed: HTMLElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly stageList: HTMLOListElement;
  private readonly bar: HTMLProgressElement;
  private readonly stepLabel: HTMLElement;
  private readonly log: HTMLPreElement;
  private readonly logDetails: HTMLDetailsElement;
  private readonly errorBox: HTMLElement;
  private readonly resultBox: HTMLElement;
}
