import { IBuildResult, IJobRequest } from './api';
import { button, element } from './dom';
import { JobLine, runJob } from './jobs';
import { reportView, ShowCell } from './report';

/**
 * Explain, in the Containerize dialog: runs an `explain` job for the dialog's current
 * choices (capture and environment, nothing built) and shows its slice report, so what
 * would ship can be read before Build is pressed.
 */
export class ExplainControl {
  constructor(
    private readonly request: () => IJobRequest,
    private readonly showCell: ShowCell
  ) {
    this.button = button('Explain', 'mlcontainer-explain');
    this.button.title = 'Show what would go into the image and why';
    this.button.onclick = event => {
      event.preventDefault();
      void this.explain();
    };
    this.line = new JobLine(
      'jp-mlcontainer-push',
      'mlcontainer-explain-status',
      'mlcontainer-explain-error'
    );
    this.view = element('div', 'jp-mlcontainer-report-box');
    this.node = element('section', 'jp-mlcontainer-explain');
    this.node.append(this.button, this.line.node);
  }

  /** The button and the job's progress or error. */
  readonly node: HTMLElement;
  /** The report, once there is one. */
  readonly view: HTMLElement;

  /** The choices changed: the report shown no longer describes them. */
  reset(): void {
    this.abort.abort();
    this.abort = new AbortController();
    this.button.disabled = false;
    this.line.node.hidden = true;
    this.view.replaceChildren();
  }

  /** Stop following the job (it ends on its own; nothing is built). */
  dispose(): void {
    this.abort.abort();
  }

  private async explain(): Promise<void> {
    this.reset();
    const signal = this.abort.signal;
    this.button.disabled = true;
    this.line.show('running', element('span', '', 'Explaining…'));
    const job = await runJob<IBuildResult>(
      this.line,
      'jobs',
      {
        method: 'POST',
        body: { ...this.request(), explain: true, run: false }
      },
      event => this.line.show('running', element('span', '', event.message)),
      signal
    );
    if (signal.aborted) {
      return;
    }
    this.button.disabled = false;
    const report = job?.result?.report;
    if (report) {
      this.line.node.hidden = true;
      this.view.replaceChildren(reportView(report, this.showCell));
    }
  }

  private abort = new AbortController();
  private readonly button: HTMLButtonElement;
  private readonly line: JobLine;
}
