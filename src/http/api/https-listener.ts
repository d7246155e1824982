/**
 * @module
 * The `https` listener kind in a worker: the /v1/ API over TLS on the shared
 * port (SO_REUSEPORT), with the worker's depot and key pool. The listener
 * counts as work in flight until Bun's graceful `stop` resolves, which is
 * once every accepted request is answered and written (idle keep-alive
 * connections do not hold it); answers given while stopping carry
 * `Connection: close`, so keep-alive clients move to another worker.
 */
import { readFileSync } from "node:fs";
import { DepotError } from "../../errors.ts";
import { listenErrorMessage } from "../../server/bind.ts";
import type { ListenerContext, OpenedListener } from "../../server/listeners/context.ts";
import type { HttpsListenerSpec } from "../../server/listeners/types.ts";
import { depotApiServices } from "./depot-services.ts";
import { createApi } from "./index.ts";
import { listenHttps } from "./listener.ts";
import { acmeForDepot } from "../../acme/mount.ts";

export function open(spec: HttpsListenerSpec, context: ListenerContext): OpenedListener {
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
  const acme = spec.acme ? acmeForDepot(context.depot, spec.acme) : undefined;
  try {
    const server = listenHttps({
      hostname: spec.host,
      port: spec.port,
      reusePort: true,
      cert,
      key,
      internalError,
      api: async (request, requestContext) => {
        const response = await api(request, requestContext);
        if (context.stopping) response.headers.set("connection", "close");
        return response;
      },
      ...(acme
        ? {
            acme: async (request, requestContext) => {
              const response = await acme.handle(request, requestContext);
              if (context.stopping) response.headers.set("connection", "close");
              return response;
            },
          }
        : {}),
    });
    const serving = context.begin();
    return { stop: () => void server.stop(false).then(serving, serving) };
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, spec.host, spec.port));
  }
}
