/**
 * @module
 * RFC 9457 problem details: every HTTP error depot answers is an
 * `application/problem+json` document with a `type` that names the problem,
 * a `title`, the `status` and, where there is one, the same `detail` message
 * the CLI would print. Handlers throw `HttpProblem`; the router turns it
 * into a response (`problemResponse`).
 */

const STATUS_TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export interface ProblemOptions {
  /** A short slug; the document's `type` is `urn:depot:problem:<slug>`. */
  slug?: string;
  /** Extra members (RFC 9457 extensions), e.g. `retryAfter`. */
  extensions?: Record<string, unknown>;
  /** Headers of the response (`Retry-After`, `WWW-Authenticate`, `Allow`). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error a handler throws to answer with a problem document. */
export class HttpProblem extends Error {
  override name = "HttpProblem";
  readonly slug: string | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    readonly detail: string,
    options: ProblemOptions = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.slug = options.slug;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

/** The problem document's response. */
export function problemResponse(problem: HttpProblem): Response {
  const title = STATUS_TITLES[problem.status] ?? "Error";
  const body = {
    type: problem.slug ? `urn:depot:problem:${problem.slug}` : "about:blank",
    title,
    status: problem.status,
    detail: problem.detail,
    ...problem.extensions,
  };
  return new Response(`${JSON.stringify(body)}\n`, {
    status: problem.status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store", ...problem.headers },
  });
}

/** Shorthand: a problem response without throwing. */
export function problem(status: number, detail: string, options: ProblemOptions = {}): Response {
  return problemResponse(new HttpProblem(status, detail, options));
}
