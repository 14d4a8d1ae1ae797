import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One progress event of a build (jupyter_mlcontainer.shared.events.ProgressEvent). */
export interface IProgressEvent {
  kind: 'stage' | 'step' | 'log' | 'cache' | 'warning' | 'error' | 'done';
  message: string;
  stage: string;
  step: number;
  total: number;
  /** Seconds since the job was created. */
  time: number;
}

export interface IInstance {
  id: string;
  name: string;
  image: string;
  url: string;
  status: string;
  labels: Record<string, string>;
  created: string;
  started: string;
  notebook: string;
}

/** Whether an instance's image still matches its notebook and packages. */
export interface IDrift {
  status:
    | 'up-to-date'
    | 'notebook-changed'
    | 'notebook-missing'
    | 'environment-drifted';
  summary: string;
  details: string[];
}

/** One feature's histogram in an instance's GET /drift (runtime/datadrift.py). */
export interface IDriftHistogram {
  /** Population stability index against training. */
  psi: number;
  rows: number;
  bins: string[];
  /** Training's share per bin. */
  expected: number[];
  /** Live traffic's share per bin. */
  actual: number[];
}

/** GET /mlcontainer/instances/{name}/data-drift: how live inputs drift from training. */
export interface IDataDrift {
  name: string;
  features: Record<string, IDriftHistogram>;
  prediction: IDriftHistogram | null;
  /** Rows the histograms rest on, of at most `window_limit`. */
  window_rows: number;
  window_limit: number;
  /** The server's MLContainerConfig.data_drift_threshold. */
  threshold: number;
  /** The features whose PSI is above `threshold`, the worst first. */
  drifting: string[];
  worst: { feature: string; psi: number } | null;
}

export interface IParityRow {
  index: number;
  expected: unknown;
  actual: unknown;
  ok: boolean;
  detail: string;
}

/** StatementVerdict.to_dict(): why one top-level statement is kept or dropped. */
export interface IStatementVerdict {
  /** The cell's index in the notebook (markdown cells count). */
  cell: number;
  /** The statement's first line. */
  line: string;
  kept: boolean;
  reason: string;
}

/** SliceReport.to_dict(): what goes into the image and why. */
export interface ISliceReport {
  notebook: string;
  /** What is served, e.g. predict(inputs). */
  entry: string;
  statements: IStatementVerdict[];
  values: { name: string; type: string; serializer: string; size: number }[];
  packages: {
    name: string;
    version: string;
    /** The imports, pickles or packages that pulled it in. */
    why: string[];
    installed_size: number | null;
  }[];
  local_modules: string[];
  files: string[];
  system_packages: string[];
  base_image: string;
  /** Bytes; null where unknown. */
  size_estimate: {
    base: number | null;
    python_packages: number | null;
    app: number;
    total: number | null;
  };
  warnings: string[];
}

/** Replacement.to_dict(): how a build under a serving name replaced what served. */
export interface IReplacement {
  how: 'rollout' | 'handover' | 'restart';
  /** Unchanged. */
  url: string;
  previous_image: string;
  /** The old and the new model's answers to the sample; null when one did not answer. */
  before: unknown[] | null;
  after: unknown[] | null;
  /** Without a listener at the URL (0 for a rollout). */
  gap_seconds: number;
}

/** BuildResult.to_dict() */
export interface IBuildResult {
  context: string;
  name: string;
  image: string;
  tag: string;
  size: number;
  instance: IInstance | null;
  parity: { rows: IParityRow[]; passed: boolean } | null;
  sample: { request: unknown; expected: unknown } | null;
  warnings: string[];
  replacement: IReplacement | null;
  report: ISliceReport | null;
}

export interface IJobError {
  message: string;
  hint: string;
  output: string;
}

export type JobStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** PushResult.to_dict() */
export interface IPushResult {
  image: string;
  target: string;
  digest: string;
  layers: number;
  layers_sent: number;
  bytes_sent: number;
}

/** Deployment.to_dict(): replicas of one image behind one URL, on Docker's swarm mode. */
export interface IDeployment {
  name: string;
  /** The front's, on 127.0.0.1; empty while the front is not running. */
  url: string;
  image: string;
  /** Wanted. */
  replicas: number;
  /** Running and healthy. */
  running: number;
  /** Swarm's state of the last rollout: '', updating, completed, rollback_completed, … */
  update: string;
}

/** GET /mlcontainer/deployments */
export interface IDeploymentList {
  /** 'active' when deployments can be made; 'inactive', 'worker', … otherwise. */
  swarm: string;
  deployments: IDeployment[];
}

export type JobKind =
  'build' | 'explain' | 'push' | 'deploy' | 'scale' | 'rollout' | 'undeploy';

/**
 * A job's summary; `result` is an IBuildResult for a build or an explain, an IPushResult for a push, an
 * IDeployment for a deploy, scale or rollout, null for an undeploy.
 */
export interface IJob<R = IBuildResult> {
  id: string;
  kind: JobKind;
  notebook: string;
  name: string | null;
  status: JobStatus;
  stage: string;
  result: R | null;
  error: IJobError | null;
  created: number;
  finished: number | null;
  events?: IProgressEvent[];
}

export interface ICandidates {
  models: string[];
  functions: string[];
  sample: string | null;
  /** The sample each candidate would get, by `model:<name>` and `entry:<name>`. */
  samples?: Record<string, string>;
  defaults: Record<string, string>;
}

/** The request bodies, generated from their Python declarations (scripts/request_types.py). */
export type { IDeployRequest, IJobRequest, IPushRequest } from './requests';

export interface IPredictResponse {
  status: number;
  body: unknown;
  latency_ms: number;
  error: string;
}

/** An error answer of the server: what went wrong and what to do about it. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly status: number
  ) {
    super(message);
  }
}

function endpointURL(endpoint: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'mlcontainer', endpoint);
}

async function send(endpoint: string, init: RequestInit): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      endpointURL(endpoint),
      init,
      settings
    );
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    let reply: { message?: string; hint?: string } = {};
    try {
      reply = await response.json();
    } catch {
      // a proxy's HTML error page: fall back to the status line
    }
    throw new APIError(
      reply.message || `${response.status} ${response.statusText}`,
      reply.hint || '',
      response.status
    );
  }
  return response;
}

/** Call the server extension's REST API under /mlcontainer/. */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {}
): Promise<T> {
  const response = await send(endpoint, init);
  return (await response.json()) as T;
}

export function postJSON<T>(endpoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endpoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

/**
 * Follow a job's server-sent events: the events so far, then new ones until
 * the job ends. Returns the job's final summary.
 */
export async function followJob<R = IBuildResult>(
  jobId: string,
  onEvent: (event: IProgressEvent) => void,
  signal: AbortSignal
): Promise<IJob<R>> {
  const response = await send(`jobs/${jobId}/events`, { signal });
  const reader = response
    .body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split('\n');
      const data = lines
        .filter(line => line.startsWith('data: '))
        .map(line => line.slice(6))
        .join('\n');
      if (!data) {
        continue; // a keep-alive comment
      }
      if (lines.includes('event: end')) {
        return JSON.parse(data) as IJob<R>;
      }
      onEvent(JSON.parse(data) as IProgressEvent);
    }
  }
  // The stream broke off (server restart, proxy timeout): ask for the state.
  return requestAPI<IJob<R>>(`jobs/${jobId}`);
}
