import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ICandidates, IJobRequest } from './api';
import { ExplainControl } from './explain';
import { ShowCell } from './report';

/** What the dialog knows before it opens. */
export interface IDialogDefaults {
  path: string;
  name: string;
  runAfterBuild: boolean;
  candidates: ICandidates | null;
  /** What every request of this notebook carries: its kernel, the base image setting. */
  context: Pick<IJobRequest, 'kernel_id' | 'base_image'>;
  showCell: ShowCell;
}

const OTHER = '__other__';

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, value);
  }
  node.textContent = text;
  return node;
}

/** A single-line text input, identified for tests by `testid`. */
function textInput(testid: string, placeholder = ''): HTMLInputElement {
  const input = element('input', {
    type: 'text',
    'data-testid': testid,
    spellcheck: 'false'
  });
  input.placeholder = placeholder;
  return input;
}

function row(label: string, control: HTMLElement, note = ''): HTMLElement {
  const wrapper = element('label', { class: 'jp-mlcontainer-field' });
  wrapper.appendChild(
    element('span', { class: 'jp-mlcontainer-label' }, label)
  );
  wrapper.appendChild(control);
  if (note) {
    wrapper.appendChild(
      element('span', { class: 'jp-mlcontainer-note' }, note)
    );
  }
  return wrapper;
}

/** The form of the Containerize dialog; `getValue()` is the job request. */
export class ContainerizeForm extends Widget {
  constructor(private readonly defaults: IDialogDefaults) {
    super();
    this.addClass('jp-mlcontainer-containerize');
    this.node.dataset.testid = 'mlcontainer-dialog';
    const candidates = defaults.candidates;
    const saved = candidates?.defaults ?? {};

    this.nameInput = textInput('mlcontainer-name');
    this.nameInput.value = saved.name || defaults.name;

    this.targetSelect = element('select', {
      'data-testid': 'mlcontainer-target'
    });
    const groups: [string, string, string[]][] = [
      ['Models (fitted in the notebook)', 'model', candidates?.models ?? []],
      ['Functions', 'entry', candidates?.functions ?? []]
    ];
    for (const [title, kind, names] of groups) {
      if (!names.length) {
        continue;
      }
      const group = element('optgroup', { label: title });
      for (const name of names) {
        group.appendChild(
          element('option', { value: `${kind}:${name}` }, name)
        );
      }
      this.targetSelect.appendChild(group);
    }
    this.targetSelect.appendChild(
      element('option', { value: OTHER }, 'Other…')
    );
    this.targetSelect.value = this.initialTarget(candidates);

    this.otherInput = textInput(
      'mlcontainer-other',
      'model variable, or entry function as def:name'
    );
    this.methodInput = textInput('mlcontainer-method');
    this.methodInput.value = saved.method || 'predict';

    this.sampleInput = textInput(
      'mlcontainer-sample',
      'inferred from the notebook, e.g. X_test[:3]'
    );
    this.filledSample = this.sampleFor(this.targetSelect.value);
    this.sampleInput.value = this.filledSample;

    this.runInput = element('input', {
      type: 'checkbox',
      'data-testid': 'mlcontainer-run'
    });
    this.runInput.checked = defaults.runAfterBuild;

    this.portInput = element('input', {
      type: 'number',
      min: '0',
      max: '65535',
      placeholder: 'any free port',
      'data-testid': 'mlcontainer-port'
    });

    this.systemPackagesInput = textInput(
      'mlcontainer-system-packages',
      'e.g. libgeos-c1v5 (found on their own otherwise)'
    );
    this.keepGpuInput = element('input', {
      type: 'checkbox',
      'data-testid': 'mlcontainer-keep-gpu'
    });

    const target = row('Serve', this.targetSelect);
    this.otherRow = row('Name', this.otherInput);
    this.methodRow = row('Method', this.methodInput);
    const run = element('label', { class: 'jp-mlcontainer-check' });
    run.append(this.runInput, ' Run after build');
    const keepGpu = element('label', { class: 'jp-mlcontainer-check' });
    keepGpu.append(
      this.keepGpuInput,
      ' Keep GPU-only packages the trial run never loaded'
    );

    const fields = element('div', { class: 'jp-mlcontainer-form' });
    fields.append(
      row('Image name', this.nameInput),
      target,
      this.otherRow,
      this.methodRow,
      row(
        'Sample input',
        this.sampleInput,
        'An expression in the notebook; its rows become the test request.'
      ),
      run,
      row('Port', this.portInput, 'On 127.0.0.1; empty picks a free one.'),
      row(
        'System packages',
        this.systemPackagesInput,
        'Debian packages for shared libraries that are not found on their own.'
      ),
      keepGpu
    );
    this.explain = new ExplainControl(() => this.getValue(), defaults.showCell);
    fields.appendChild(this.explain.node);
    // The report opens beside the choices it describes.
    this.node.append(fields, this.explain.view);
    this.targetSelect.addEventListener('change', () => {
      this.followTarget();
      this.updateVisibility();
    });
    this.runInput.addEventListener('change', () => this.updateVisibility());
    // A report describes the choices it was made for.
    this.node.addEventListener('change', () => this.explain.reset());
    this.updateVisibility();
  }

  dispose(): void {
    this.explain.dispose();
    super.dispose();
  }

  getValue(): IJobRequest {
    const request: IJobRequest = {
      ...this.defaults.context,
      path: this.defaults.path,
      run: this.runInput.checked
    };
    const name = this.nameInput.value.trim();
    if (name) {
      request.name = name;
    }
    const [kind, target] = this.target();
    if (kind === 'model' && target) {
      request.model = target;
      request.method = this.methodInput.value.trim() || 'predict';
    } else if (kind === 'entry' && target) {
      request.entry = target;
    }
    const sample = this.sampleInput.value.trim();
    if (sample) {
      request.sample = sample;
    }
    const port = parseInt(this.portInput.value, 10);
    if (this.runInput.checked && !isNaN(port)) {
      request.port = port;
    }
    const systemPackages = this.systemPackagesInput.value
      .split(/[\s,]+/)
      .filter(name => name);
    if (systemPackages.length) {
      request.system_packages = systemPackages;
    }
    if (this.keepGpuInput.checked) {
      request.keep_gpu_packages = true;
    }
    return request;
  }

  private target(): [string, string] {
    const value = this.targetSelect.value;
    if (value !== OTHER) {
      const colon = value.indexOf(':');
      return [value.slice(0, colon), value.slice(colon + 1)];
    }
    const other = this.otherInput.value.trim();
    return other.startsWith('def:')
      ? ['entry', other.slice(4).trim()]
      : ['model', other];
  }

  private initialTarget(candidates: ICandidates | null): string {
    const saved = candidates?.defaults ?? {};
    if (saved.entry) {
      return `entry:${saved.entry}`;
    }
    const model = saved.model || candidates?.models.slice(-1)[0];
    if (model) {
      return `model:${model}`;
    }
    const entry = candidates?.functions.includes('predict')
      ? 'predict'
      : undefined;
    return entry ? `entry:${entry}` : OTHER;
  }

  /** The sample the notebook saved, else the one inferred for `target`, else empty (the build
   * infers it). */
  private sampleFor(target: string): string {
    const candidates = this.defaults.candidates;
    return candidates?.defaults?.sample || candidates?.samples?.[target] || '';
  }

  /** A sample the dialog filled in follows the target; one the user typed stays. */
  private followTarget(): void {
    if (this.sampleInput.value === this.filledSample) {
      this.filledSample = this.sampleFor(this.targetSelect.value);
      this.sampleInput.value = this.filledSample;
    }
  }

  private updateVisibility(): void {
    const [kind] = this.target();
    this.otherRow.hidden = this.targetSelect.value !== OTHER;
    this.methodRow.hidden = kind !== 'model';
    this.portInput.disabled = !this.runInput.checked;
  }

  private readonly explain: ExplainControl;
  private readonly nameInput: HTMLInputElement;
  private readonly targetSelect: HTMLSelectElement;
  private readonly otherInput: HTMLInputElement;
  private readonly otherRow: HTMLElement;
  private readonly methodInput: HTMLInputElement;
  private readonly methodRow: HTMLElement;
  private readonly sampleInput: HTMLInputElement;
  private filledSample: string;
  private readonly runInput: HTMLInputElement;
  private readonly systemPackagesInput: HTMLInputElement;
  private readonly keepGpuInput: HTMLInputElement;
  private readonly portInput: HTMLInputElement;
}

/** Ask how to containerize a notebook; null when the user cancels. */
export async function askForJob(
  defaults: IDialogDefaults
): Promise<IJobRequest | null> {
  const result = await showDialog({
    title: 'Containerize notebook',
    body: new ContainerizeForm(defaults),
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Build', ariaLabel: 'Build the container' })
    ],
    focusNodeSelector: 'input'
  });
  return result.button.accept ? result.value : null;
}
