/**
 * @module
 * The HTTPS listener: `Bun.serve` with TLS, and SO_REUSEPORT so that every
 * worker listens on the same port and the kernel spreads connections. It
 * answers `/v1/` and EST's `/.well-known/est/` with the API, `/acme/` with
 * ACME when `--acme` is on, `/scep` with SCEP; anything else is a 404 problem.
 */
import type { Server } from "bun";
import { problem } from "../../http/problem.ts";
import type { ApiHandler } from "../../http/api/index.ts";
import type { RequestContext as AcmeRequestContext } from "../../acme/context.ts";
import { SCEP_PATH, type ScepHandler } from "../../http/scep/handler.ts";

export interface HttpsListenerOptions {
  hostname: string;
  port: number;
  /** PEM certificate (with its chain) and key. */
  cert: string;
  key: string;
  api: ApiHandler;
  /** ACME (`--acme`): every path under /acme/. */
  acme?: (request: Request, context: AcmeRequestContext) => Response | Promise<Response>;
  /** SCEP at /scep (as on the plain-HTTP listener). */
  scep?: ScepHandler;
  reusePort?: boolean;
  /** Told of an error Bun caught outside the handler. */
  internalError(error: unknown): void;
}

/** Bodies past this never reach the handler (Bun answers 413 itself); the API's own limit is lower. */
const MAX_REQUEST_BYTES = 1024 * 1024;

export function listenHttps(options: HttpsListenerOptions): Server<undefined> {
  return Bun.serve({
    hostname: options.hostname,
    port: options.port,
    reusePort: options.reusePort ?? false,
    tls: { cert: options.cert, key: options.key },
    maxRequestBodySize: MAX_REQUEST_BYTES,
    fetch(request, server) {
      const path = new URL(request.url).pathname;
      if (options.acme && path.startsWith("/acme/")) return options.acme(request, { clientAddress: () => server.requestIP(request)?.address });
      if (options.scep && path === SCEP_PATH) return options.scep(request, server.requestIP(request)?.address);
      if (!path.startsWith("/v1/") && !path.startsWith("/.well-known/est/")) return problem(404, `no such path: ${path.slice(0, 100)} (the API is under /v1/, EST under /.well-known/est/, SCEP at /scep)`, { slug: "not-found" });
      const address = server.requestIP(request)?.address;
      return options.api(request, address ? { clientAddress: address } : {});
    },
    error(error) {
      options.internalError(error);
      return problem(500, "internal error; the server log has the details", { slug: "server-error" });
    },
  });
}
