import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One progress event of a build (jupyter_mlcontainer.events.ProgressEvent). */
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

export interface IParityRow {
  index: number;
  expected: unknown;
  actual: unknown;
  ok: boolean;
  detail: string;
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
}

export interface IJobError {
  message: string;
  hint: string;
  output: string;
}

export type JobStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface IJob {
  id: string;
  notebook: string;
  name: string | null;
  status: JobStatus;
  stage: string;
  result: IBuildResult | null;
  error: IJobError | null;
  created: number;
  finished: number | null;
  events?: IProgressEvent[];
}

export interface ICandidates {
  models: string[];
  functions: string[];
  sample: string | null;
  defaults: Record<string, string>;
}

export interface IJobRequest {
  path: string;
  model?: string;
  entry?: string;
  method?: string;
  sample?: string;
  name?: string;
  run: boolean;
  port?: number;
  kernel_id?: string;
  base_image?: string;
  system_packages?: string[];
  keep_gpu_packages?: boolean;
}

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
export async function followJob(
  jobId: string,
  onEvent: (event: IProgressEvent) => void,
  signal: AbortSignal
): Promise<IJob> {
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
        return JSON.parse(data) as IJob;
      }
      onEvent(JSON.parse(data) as IProgressEvent);
    }
  }
  // The stream broke off (server restart, proxy timeout): ask for the state.
  return requestAPI<IJob>(`jobs/${jobId}`);
}
