import { APIError, followJob, IJob, IProgressEvent, requestAPI } from './api';
import { element } from './dom';

/**
 * The line under an action's button (Push, Deploy, Scale, …): its job's progress while it
 * runs, then its outcome; an error in red with what to do and, when there is one, the log
 * that explains it.
 */
export class JobLine {
  constructor(
    className: string,
    testid: string,
    private readonly errorTestid: string
  ) {
    this.node = element('div', className);
    this.node.dataset.testid = testid;
    this.node.hidden = true;
  }

  readonly node: HTMLElement;

  show(state: string, ...nodes: HTMLElement[]): void {
    this.node.hidden = false;
    this.node.dataset.status = state;
    this.node.replaceChildren(...nodes);
  }

  fail(message: string, hint = '', output = ''): void {
    const box = element('div', 'jp-mlcontainer-error');
    box.dataset.testid = this.errorTestid;
    box.appendChild(element('strong', '', message));
    if (hint) {
      box.appendChild(element('p', '', hint));
    }
    if (output) {
      box.appendChild(element('pre', '', output));
    }
    this.show('failed', box);
  }
}

/**
 * Start a server job (a request answered 202 {"id"}) and follow its events to its end.
 * Returns the finished job when it succeeded; otherwise shows why on `line` and returns
 * null. Nothing is shown once `signal` aborts: the page stopped following, the job goes on.
 */
export async function runJob<R>(
  line: JobLine,
  endpoint: string,
  init: { method: string; body?: unknown },
  onEvent: (event: IProgressEvent) => void,
  signal: AbortSignal
): Promise<IJob<R> | null> {
  try {
    const { id } = await requestAPI<{ id: string }>(endpoint, {
      method: init.method,
      body: init.body === undefined ? undefined : JSON.stringify(init.body)
    });
    const job = await followJob<R>(id, onEvent, signal);
    if (job.status === 'succeeded') {
      return job;
    }
    line.fail(
      job.error?.message || `The ${job.kind} ended ${job.status}.`,
      job.error?.hint,
      job.error?.output
    );
  } catch (error) {
    if (!signal.aborted) {
      const hint = error instanceof APIError ? error.hint : '';
      line.fail((error as Error).message, hint);
    }
  }
  return null;
}
