import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  APIError,
  IDataDrift,
  IDeploymentList,
  IDrift,
  IInstance,
  IJob,
  requestAPI
} from './api';
import { DeployControl, DeploymentItem } from './deploy';
import { button, element, formatDuration } from './dom';
import { IRegistrySetting, PushControl } from './push';

/** Seconds between refreshes while the sidebar is visible. */
const REFRESH_SECONDS = 5;
/** Seconds an instance's drift check is reused before it is asked again. */
const DRIFT_SECONDS = 30;
/** Seconds an instance's data drift (its inputs against training) is reused. */
const DATA_DRIFT_SECONDS = 15;
/** Running instances whose data drift is asked, at most, on each refresh. */
const DATA_DRIFT_INSTANCES = 20;

/**
 * Running instances (read from the engine's labels, so nothing is lost when
 * Jupyter restarts), deployments (read from swarm mode's services) and this
 * server's recent builds, which reopen their panel.
 */
export class InstancesSidebar extends Widget {
  constructor(
    icon: LabIcon,
    private readonly openJob: (job: IJob) => void,
    private readonly registry: IRegistrySetting
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
    refresh.title =
      'Refresh, and check again whether images match their notebooks';
    refresh.dataset.testid = 'mlcontainer-refresh';
    refresh.onclick = () => {
      this.drifts.clear();
      this.dataDrifts.clear();
      void this.refresh();
    };
    header.appendChild(refresh);
    this.message = element('p', 'jp-mlcontainer-message');
    this.message.dataset.testid = 'mlcontainer-sidebar-message';
    this.instanceList = element('ul', 'jp-mlcontainer-instances');
    this.instanceList.dataset.testid = 'mlcontainer-instances';
    this.deploymentList = element('ul', 'jp-mlcontainer-deployments');
    this.deploymentList.dataset.testid = 'mlcontainer-deployments';
    this.jobList = element('ul', 'jp-mlcontainer-jobs');
    this.node.append(
      header,
      this.message,
      element('h3', '', 'Running'),
      this.instanceList,
      element('h3', '', 'Deployments'),
      this.deploymentList,
      element('h3', '', 'Builds'),
      this.jobList
    );
  }

  /** Read instances, deployments and builds again and redraw. */
  async refresh(): Promise<void> {
    try {
      const [{ instances }, deployments, { jobs }] = await Promise.all([
        requestAPI<{ instances: IInstance[] }>('instances'),
        requestAPI<IDeploymentList>('deployments'),
        requestAPI<{ jobs: IJob[] }>('jobs')
      ]);
      this.message.textContent = '';
      this.message.hidden = true;
      this.drawInstances(instances);
      this.drawDeployments(deployments);
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
    this.pushes.forEach(control => control.dispose());
    this.deploys.forEach(control => control.dispose());
    this.deployments.forEach(item => item.dispose());
    super.dispose();
  }

  private drawInstances(instances: IInstance[]): void {
    this.instanceList.replaceChildren();
    // A push or a deploy outlives the redraws every few seconds; it is dropped with its
    // instance.
    const names = new Set(instances.map(instance => instance.name));
    for (const controls of [this.pushes, this.deploys]) {
      for (const [name, control] of controls) {
        if (!names.has(name)) {
          control.dispose();
          controls.delete(name);
        }
      }
    }
    if (!instances.length) {
      this.instanceList.appendChild(
        element('li', 'jp-mlcontainer-empty', 'No running containers.')
      );
      return;
    }
    // Each running instance's data drift is asked once per DATA_DRIFT_SECONDS, and only
    // for the first few: a cheap, bounded poll, whatever runs on the engine.
    const watched = new Set(
      instances
        .filter(instance => instance.url && instance.status === 'running')
        .slice(0, DATA_DRIFT_INSTANCES)
        .map(instance => instance.name)
    );
    for (const name of this.dataDrifts.keys()) {
      if (!watched.has(name)) {
        this.dataDrifts.delete(name);
      }
    }
    for (const instance of instances) {
      this.instanceList.appendChild(
        this.instanceItem(instance, watched.has(instance.name))
      );
    }
  }

  private instanceItem(instance: IInstance, watched: boolean): HTMLElement {
    const item = element('li', 'jp-mlcontainer-instance');
    item.dataset.testid = 'mlcontainer-instance';
    item.dataset.name = instance.name;
    const title = element('div', 'jp-mlcontainer-instance-name', instance.name);
    title.append(' ', this.driftBadge(instance));
    if (watched) {
      title.append(' ', this.dataDriftBadge(instance));
    }
    item.appendChild(title);
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
    let push = this.pushes.get(instance.name);
    if (!push) {
      push = new PushControl(
        instance.name,
        instance.image,
        this.registry,
        'mlcontainer-sidebar-push'
      );
      this.pushes.set(instance.name, push);
    }
    let deploy = this.deploys.get(instance.name);
    if (!deploy) {
      deploy = new DeployControl(
        instance.name,
        'mlcontainer-sidebar-deploy',
        () => void this.refresh()
      );
      this.deploys.set(instance.name, deploy);
    }
    const actions = element('div', 'jp-mlcontainer-actions');
    actions.append(logsButton, push.button, deploy.button, stopButton);
    item.append(actions, push.status, deploy.line.node, logs);
    return item;
  }

  /** A badge saying whether the image still matches its notebook, details in its tooltip. */
  private driftBadge(instance: IInstance): HTMLElement {
    const badge = element('span', 'jp-mlcontainer-badge jp-mlcontainer-drift');
    badge.dataset.testid = 'mlcontainer-drift';
    let cached = this.drifts.get(instance.name);
    if (
      !cached ||
      cached.id !== instance.id ||
      Date.now() - cached.at > DRIFT_SECONDS * 1000
    ) {
      cached = {
        id: instance.id,
        at: Date.now(),
        drift: requestAPI<IDrift>(`instances/${instance.name}/drift`)
      };
      this.drifts.set(instance.name, cached);
    }
    badge.hidden = true;
    cached.drift.then(
      drift => {
        badge.hidden = false;
        badge.textContent = drift.summary;
        badge.dataset.status = drift.status;
        badge.title = [drift.summary, ...drift.details].join('\n');
      },
      () => {
        badge.hidden = true;
      }
    );
    return badge;
  }

  /**
   * A "data drift" badge when a feature of the instance's live inputs drifts from its
   * training data beyond the server's threshold (the PSIs in its tooltip); nothing for an
   * instance that does not drift, or whose image has no data contract.
   */
  private dataDriftBadge(instance: IInstance): HTMLElement {
    const badge = element(
      'span',
      'jp-mlcontainer-badge jp-mlcontainer-data-drift',
      'data drift'
    );
    badge.dataset.testid = 'mlcontainer-data-drift';
    badge.hidden = true;
    let cached = this.dataDrifts.get(instance.name);
    // An image without a data contract never gets one: not asked again while it runs.
    if (
      !cached ||
      cached.id !== instance.id ||
      (!cached.noContract && Date.now() - cached.at > DATA_DRIFT_SECONDS * 1000)
    ) {
      const entry = {
        id: instance.id,
        at: Date.now(),
        drift: requestAPI<IDataDrift>(`instances/${instance.name}/data-drift`),
        noContract: false
      };
      entry.drift.catch(error => {
        if (error instanceof APIError && error.status === 404) {
          entry.noContract = true;
        }
      });
      this.dataDrifts.set(instance.name, entry);
      cached = entry;
    }
    cached.drift.then(
      drift => {
        if (!drift.drifting.length) {
          return;
        }
        const psis = drift.drifting.map(
          name => `${name}: PSI ${drift.features[name].psi.toFixed(2)}`
        );
        badge.hidden = false;
        badge.dataset.features = drift.drifting.join(',');
        badge.title = [
          `Live inputs drift from the training data (PSI above ${drift.threshold}, ` +
            `last ${drift.window_rows} rows):`,
          ...psis
        ].join('\n');
      },
      () => {
        badge.hidden = true;
      }
    );
    return badge;
  }

  private drawDeployments({ swarm, deployments }: IDeploymentList): void {
    const listed = new Map(deployments.map(d => [d.name, d]));
    for (const [name, item] of this.deployments) {
      if (!listed.has(name) && !item.busy) {
        item.dispose();
        this.deployments.delete(name);
      }
    }
    for (const deployment of deployments) {
      const item = this.deployments.get(deployment.name);
      if (item) {
        item.update(deployment);
      } else {
        this.deployments.set(
          deployment.name,
          new DeploymentItem(deployment, () => void this.refresh())
        );
      }
    }
    const items = [...this.deployments.values()].map(item => item.node);
    this.deploymentList.replaceChildren(...items);
    if (!items.length) {
      const off = swarm === 'active' ? '' : ` (Docker swarm mode is ${swarm})`;
      this.deploymentList.appendChild(
        element('li', 'jp-mlcontainer-empty', `No deployments${off}.`)
      );
    }
  }

  private drawJobs(jobs: IJob[]): void {
    this.jobList.replaceChildren();
    // Pushes and deployment jobs show their progress beside what they act on.
    const builds = jobs.filter(job => job.kind === 'build');
    if (!builds.length) {
      this.jobList.appendChild(
        element('li', 'jp-mlcontainer-empty', 'No builds yet.')
      );
      return;
    }
    for (const job of builds.reverse()) {
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
  private readonly pushes = new Map<string, PushControl>();
  private readonly drifts = new Map<
    string,
    { id: string; at: number; drift: Promise<IDrift> }
  >();
  private readonly dataDrifts = new Map<
    string,
    {
      id: string;
      at: number;
      drift: Promise<IDataDrift>;
      noContract: boolean;
    }
  >();
  private readonly deploys = new Map<string, DeployControl>();
  private readonly deployments = new Map<string, DeploymentItem>();
  private readonly message: HTMLElement;
  private readonly instanceList: HTMLUListElement;
  private readonly deploymentList: HTMLUListElement;
  private readonly jobList: HTMLUListElement;
}
