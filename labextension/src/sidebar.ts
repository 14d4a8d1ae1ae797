import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { IInstance, IJob, requestAPI } from './api';
import { button, element, formatDuration } from './dom';

/** Seconds between refreshes while the sidebar is visible. */
const REFRESH_SECONDS = 5;

/**
 * Running instances (read from the engine's labels, so nothing is lost when
 * Jupyter restarts) and this server's recent builds, which reopen their panel.
 */
export class InstancesSidebar extends Widget {
  constructor(
    icon: LabIcon,
    private readonly openJob: (job: IJob) => void
  ) {
    super();
    this.id = 'mlcontainer-sidebar';
    this.addClass('jp-mlcontainer-sidebar');
    this.node.dataset.testid = 'mlcontainer-sidebar';
    this.title.icon = icon;
    this.title.caption = 'ML containers';

    const header = element('header');
    header.appendChild(element('h2', '', 'ML containers'));
    const refresh = element(
      'button',
      'jp-Button jp-mod-minimal jp-mlcontainer-refresh',
      '↻'
    );
    refresh.title = 'Refresh';
    refresh.onclick = () => this.refresh();
    header.appendChild(refresh);
    this.message = element('p', 'jp-mlcontainer-message');
    this.instanceList = element('ul', 'jp-mlcontainer-instances');
    this.instanceList.dataset.testid = 'mlcontainer-instances';
    this.jobList = element('ul', 'jp-mlcontainer-jobs');
    this.node.append(
      header,
      this.message,
      element('h3', '', 'Running'),
      this.instanceList,
      element('h3', '', 'Builds'),
      this.jobList
    );
  }

  /** Read instances and builds again and redraw. */
  async refresh(): Promise<void> {
    try {
      const [{ instances }, { jobs }] = await Promise.all([
        requestAPI<{ instances: IInstance[] }>('instances'),
        requestAPI<{ jobs: IJob[] }>('jobs')
      ]);
      this.message.textContent = '';
      this.message.hidden = true;
      this.drawInstances(instances);
      this.drawJobs(jobs);
    } catch (error) {
      const { message, hint } = error as { message: string; hint?: string };
      this.message.hidden = false;
      this.message.textContent = hint ? `${message} ${hint}` : message;
    }
  }

  protected onAfterShow(msg: Message): void {
    this.refresh();
    this.timer = window.setInterval(
      () => this.refresh(),
      REFRESH_SECONDS * 1000
    );
  }

  protected onAfterHide(msg: Message): void {
    window.clearInterval(this.timer);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  private drawInstances(instances: IInstance[]): void {
    this.instanceList.replaceChildren();
    if (!instances.length) {
      this.instanceList.appendChild(
        element('li', 'jp-mlcontainer-empty', 'No running containers.')
      );
      return;
    }
    for (const instance of instances) {
      this.instanceList.appendChild(this.instanceItem(instance));
    }
  }

  private instanceItem(instance: IInstance): HTMLElement {
    const item = element('li', 'jp-mlcontainer-instance');
    item.dataset.testid = 'mlcontainer-instance';
    item.dataset.name = instance.name;
    item.appendChild(
      element('div', 'jp-mlcontainer-instance-name', instance.name)
    );
    if (instance.notebook) {
      item.appendChild(
        element('div', 'jp-mlcontainer-muted', instance.notebook)
      );
    }
    const link = element('a', '', instance.url);
    link.href = instance.url;
    link.target = '_blank';
    link.rel = 'noopener';
    const started = Date.parse(instance.started);
    const uptime = isNaN(started)
      ? instance.status
      : `up ${formatDuration((Date.now() - started) / 1000)}`;
    const line = element('div', 'jp-mlcontainer-muted');
    line.append(link, ` · ${uptime}`);
    item.appendChild(line);

    const logs = element('pre', 'jp-mlcontainer-instance-logs');
    logs.hidden = true;
    const logsButton = button('Logs', 'mlcontainer-logs');
    logsButton.onclick = async () => {
      if (!logs.hidden) {
        logs.hidden = true;
        return;
      }
      try {
        const reply = await requestAPI<{ logs: string }>(
          `instances/${instance.name}/logs?tail=100`
        );
        logs.textContent = reply.logs || '(no output)';
      } catch (error) {
        logs.textContent = (error as Error).message;
      }
      logs.hidden = false;
    };
    const stopButton = button('Stop', 'mlcontainer-sidebar-stop', 'warn');
    stopButton.onclick = async () => {
      stopButton.disabled = true;
      try {
        await requestAPI(`instances/${instance.name}`, { method: 'DELETE' });
      } catch (error) {
        this.message.hidden = false;
        this.message.textContent = (error as Error).message;
      }
      this.refresh();
    };
    const actions = element('div', 'jp-mlcontainer-actions');
    actions.append(logsButton, stopButton);
    item.append(actions, logs);
    return item;
  }

  private drawJobs(jobs: IJob[]): void {
    this.jobList.replaceChildren();
    if (!jobs.length) {
      this.jobList.appendChild(
        element('li', 'jp-mlcontainer-empty', 'No builds yet.')
      );
      return;
    }
    for (const job of jobs.slice().reverse()) {
      const item = element('li', 'jp-mlcontainer-job');
      const open = element(
        'button',
        'jp-Button jp-mod-minimal',
        job.name || job.notebook.split('/').pop() || job.id
      );
      open.title = 'Show this build';
      open.onclick = () => this.openJob(job);
      const badge = element('span', 'jp-mlcontainer-badge', job.status);
      badge.dataset.status = job.status;
      item.append(open, badge);
      this.jobList.appendChild(item);
    }
  }

  private timer = 0;
  private readonly message: HTMLElement;
  private readonly instanceList: HTMLUListElement;
  private readonly jobList: HTMLUListElement;
}
