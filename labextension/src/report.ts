import { ISliceReport, IStatementVerdict } from './api';
import { element, formatBytes } from './dom';

/** Bring a notebook cell, by its index, into view. */
export type ShowCell = (index: number) => void;

function section(
  title: string,
  testid: string,
  open: boolean,
  ...content: HTMLElement[]
): HTMLDetailsElement {
  const details = element('details', 'jp-mlcontainer-report-section');
  details.dataset.testid = testid;
  details.open = open;
  details.append(element('summary', '', title), ...content);
  return details;
}

/** A table whose rows carry `testid`; cells are text or nodes. */
function table(
  headers: string[],
  rows: (string | HTMLElement)[][],
  testid: string
): HTMLTableElement {
  const node = element('table', 'jp-mlcontainer-report-table');
  const head = element('tr');
  head.append(...headers.map(title => element('th', '', title)));
  node.appendChild(head);
  for (const cells of rows) {
    const tr = element('tr');
    tr.dataset.testid = testid;
    for (const cell of cells) {
      const td = element('td');
      td.append(cell);
      tr.appendChild(td);
    }
    node.appendChild(tr);
  }
  return node;
}

function code(text: string): HTMLElement {
  return element('code', '', text);
}

function size(bytes: number | null): string {
  return bytes === null ? 'unknown' : formatBytes(bytes);
}

/** The statement's cell as a link that shows that cell in the notebook. */
function cellLink(index: number, showCell: ShowCell): HTMLElement {
  const link = element('button', 'jp-mlcontainer-cell-link', `[${index}]`);
  link.title = `Show cell ${index} in the notebook`;
  link.dataset.testid = 'mlcontainer-report-cell';
  link.onclick = event => {
    event.preventDefault();
    showCell(index);
  };
  return link;
}

function statementRow(
  verdict: IStatementVerdict,
  showCell: ShowCell
): HTMLElement[] {
  const mark = element(
    'span',
    'jp-mlcontainer-verdict',
    verdict.kept ? 'kept' : 'dropped'
  );
  mark.dataset.kept = String(verdict.kept);
  return [
    cellLink(verdict.cell, showCell),
    code(verdict.line),
    mark,
    element('span', '', verdict.reason)
  ];
}

function statements(report: ISliceReport, showCell: ShowCell): HTMLElement {
  const node = table(
    ['Cell', 'Statement', 'Verdict', 'Reason'],
    report.statements.map(verdict => statementRow(verdict, showCell)),
    'mlcontainer-report-statement'
  );
  report.statements.forEach((verdict, index) => {
    node.rows[index + 1].dataset.kept = String(verdict.kept);
  });
  const kept = report.statements.filter(verdict => verdict.kept).length;
  return section(
    `Statements: ${kept} of ${report.statements.length} kept`,
    'mlcontainer-report-statements',
    true,
    node
  );
}

function values(report: ISliceReport): HTMLElement {
  const content = report.values.length
    ? table(
        ['Name', 'Type', 'Serializer', 'Size'],
        report.values.map(value => [
          code(value.name),
          code(value.type),
          value.serializer,
          formatBytes(value.size)
        ]),
        'mlcontainer-report-value'
      )
    : element('p', '', 'None: the served code needs no value from the kernel.');
  return section(
    `Captured values: ${report.values.length}`,
    'mlcontainer-report-values',
    true,
    content
  );
}

function packages(report: ISliceReport): HTMLElement {
  return section(
    `Python packages: ${report.packages.length}`,
    'mlcontainer-report-packages',
    false,
    table(
      ['Package', 'Version', 'Why', 'Installed'],
      report.packages.map(item => [
        item.name,
        item.version,
        item.why.join('; '),
        size(item.installed_size)
      ]),
      'mlcontainer-report-package'
    )
  );
}

/** Local modules, data files, Debian packages, the base image and the expected size. */
function image(report: ISliceReport): HTMLElement {
  const facts = element('dl', 'jp-mlcontainer-facts');
  const fact = (label: string, items: string[]) =>
    facts.append(
      element('dt', '', label),
      element('dd', '', items.join(', ') || 'none')
    );
  fact('Local modules', report.local_modules);
  fact('Data files', report.files);
  fact('Debian packages', report.system_packages);
  fact('Base image', [report.base_image]);
  const estimate = report.size_estimate;
  fact('Expected size', [
    estimate.total === null
      ? 'unknown'
      : `about ${formatBytes(estimate.total)}: base ${size(estimate.base)}, Python packages ${size(estimate.python_packages)}, code and state ${formatBytes(estimate.app)}`
  ]);
  return section('Files and image', 'mlcontainer-report-image', true, facts);
}

function warnings(report: ISliceReport): HTMLElement {
  const list = element('ul');
  for (const warning of report.warnings) {
    const item = element('li', 'jp-mlcontainer-warning', warning);
    item.dataset.testid = 'mlcontainer-report-warning';
    list.appendChild(item);
  }
  return section(
    `Warnings: ${report.warnings.length || 'none'}`,
    'mlcontainer-report-warnings',
    report.warnings.length > 0,
    list
  );
}

/**
 * The slice report as collapsible sections, so what will ship can be read before it is
 * built: each statement's verdict (its cell a link into the notebook), the captured values,
 * the packages and why, files, base image, expected size and warnings.
 */
export function reportView(
  report: ISliceReport,
  showCell: ShowCell
): HTMLElement {
  const node = element('div', 'jp-mlcontainer-report');
  node.dataset.testid = 'mlcontainer-report';
  node.append(
    element('p', 'jp-mlcontainer-report-entry', `Serves ${report.entry}`),
    warnings(report),
    values(report),
    image(report),
    packages(report),
    statements(report, showCell)
  );
  return node;
}
