/**
 * @module
 * The `https` listener kind in a worker: the /v1/ API over TLS on the shared
 * port (SO_REUSEPORT), with the worker's depot, key pool and metrics (and
 * ACME under /acme/ with --acme). The listener counts as work in flight
 * until its stop is done (see `stop` below); answers given while stopping
 * carry `Connection: close`, so keep-alive clients move to another worker.
 */
import { readFileSync } from "node:fs";
import { DepotError } from "../../errors.ts";
import { listenErrorMessage } from "../../server/bind.ts";
import type { ListenerContext, OpenedListener } from "../../server/listeners/context.ts";
import type { HttpsListenerSpec } from "../../server/listeners/types.ts";
import { depotApiServices } from "./depot-services.ts";
import { createApi } from "./index.ts";
import { listenHttps } from "./listener.ts";

/** How long a stopping listener keeps answering (with Connection: close) before it closes. */
export const CLOSE_GRACE_MS = 250;
/** How long the worker stays after the listener's last answer, for it to reach the client. */
export const FLUSH_MS = 250;

export async function open(spec: HttpsListenerSpec, context: ListenerContext): Promise<OpenedListener> {
  const internalError = (error: unknown) => context.log("error", `internal error (HTTPS API): ${(error as Error)?.stack ?? error}`);
  const metrics = context.metrics;
  const api = createApi(
    depotApiServices(context.depot, {
      makeKeys: context.makeKeys,
      publishOnRevoke: false,
      ...(metrics.reporter ? { metrics: async () => metrics.reporter?.scrape() ?? "" } : {}),
    }),
    {
      internalError,
      received: (method, path) => context.log("debug", `received ${method} ${path.slice(0, 100)} (HTTPS)`),
      served: (route, status, ms) => {
        metrics.httpServed("https", route, status, ms);
        context.log("debug", `served ${route} ${status} in ${ms.toFixed(1)} ms (HTTPS)`);
      },
    },
  );
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(spec.certFile, "utf8");
    key = readFileSync(spec.keyFile, "utf8");
  } catch (error) {
    throw new DepotError("E_SERVER", `cannot read the HTTPS certificate or key (${spec.certFile}, ${spec.keyFile}): ${(error as Error).message}`);
  }
  // ACME (and jose with it) is loaded only by a server that serves it.
  const acme = spec.acme ? (await import("../../acme/mount.ts")).acmeForDepot(context.depot, spec.acme, spec.apiUrl) : undefined;
  // Our own count of requests being answered, and when the last answer left
  // the handler: Bun's stop() resolved before answers were on the wire.
  let answering = 0;
  let lastAnswerAt = 0;
  const answered = <T>(response: T): T => {
    answering--;
    lastAnswerAt = performance.now();
    return response;
  };
  try {
    const server = listenHttps({
      hostname: spec.host,
      port: spec.port,
      reusePort: true,
      cert,
      key,
      internalError,
      api: async (request, requestContext) => {
        answering++;
        const response = await api(request, requestContext).finally(() => answered(undefined));
        if (context.stopping) response.headers.set("connection", "close");
        return response;
      },
      ...(acme
        ? {
            acme: async (request, requestContext) => {
              answering++;
              const response = await acme.handle(request, requestContext).finally(() => answered(undefined));
              if (context.stopping) response.headers.set("connection", "close");
              return response;
            },
          }
        : {}),
    });
    const serving = context.begin();
    return {
      stop: () => {
        // Requests already sent on open connections still reach us for a
        // moment, and are answered (with Connection: close); then the
        // listening socket closes, idle connections are closed, and what is
        // in flight completes.
        // The worker may exit once nothing is being answered and the last
        // answer has had FLUSH_MS to reach the wire: Bun's stop() resolves
        // when answers are handed to TLS, and exiting then lost some.
        // Bun's stop(false) dropped connections whose request was still
        // being worked on (an RSA key on the thread pool): the listener
        // closes only once nothing is being answered (every answer in the
        // meantime says Connection: close; the worker's graceful deadline
        // bounds the wait).
        setTimeout(() => {
          const check = setInterval(() => {
            if (answering > 0 || performance.now() - lastAnswerAt < FLUSH_MS) return;
            clearInterval(check);
            void server.stop(false).then(() => Bun.sleep(FLUSH_MS)).then(serving, serving);
          }, 50);
        }, CLOSE_GRACE_MS);
      },
    };
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, spec.host, spec.port));
  }
}
