/**
 * @module
 * The line protocol's listener in a worker: `Bun.listen` on the shared
 * host:port with SO_REUSEPORT (the kernel spreads connections over the
 * workers); each connection is a `Connection` (`src/line/connection.ts`)
 * with the line services for its client's address (`src/line/services.ts`).
 * Half-open connections are allowed: a client that shuts its write side
 * after the request (`nc -N`) still reads the answer.
 */
import type { Socket, TCPSocketListener } from "bun";
import { DepotError } from "../../errors.ts";
import { listenErrorMessage } from "../bind.ts";
import { systemClock } from "../../clock.ts";
import { Connection } from "../../line/connection.ts";
import { depotLineServices, type DepotLineServicesOptions } from "../../line/services.ts";
import { Gate } from "../gate.ts";
import type { ListenerContext, OpenedListener } from "./context.ts";
import type { LineListenerSpec } from "./types.ts";

/**
 * Requests one worker works on at once; the rest wait their turn (up to the
 * read timeout). Issuing is short CPU work between ledger writes: more at
 * once would only interleave them, not finish them sooner.
 */
export const PROCESSING_PER_WORKER = 16;

export function open(spec: LineListenerSpec, context: ListenerContext): OpenedListener {
  const gate = new Gate(PROCESSING_PER_WORKER, systemClock);
  const servicesOptions: DepotLineServicesOptions = {
    makeKeys: context.makeKeys,
    log: context.log,
    allowRevoke: context.config.allowRevoke,
    allowShutdown: context.config.allowShutdown,
  };
  let held = 0;
  const socket = {
    open(socket: Socket<Connection>) {
      // Over --max-connection-queue: read the request, answer ERROR busy. A
      // connection accepted while the worker stops is served: the stop waits for it.
      const busy = held >= context.config.maxConnectionQueue;
      const end = context.begin();
      if (!busy) held++;
      const done = () => {
        if (!busy) held--;
        end();
      };
      socket.data = new Connection(
        socket,
        {
          services: depotLineServices(context.depot, socket.remoteAddress, servicesOptions),
          schedule: gate.schedule,
          clock: systemClock,
          finished: done,
          shutdownRequested: () => setImmediate(() => context.requestRetire("asked to stop by a client (shutdown)")),
          internalError: (error) => context.logFailure(error),
          served: (command, ms, outcome) => {
            context.metrics.lineServed(command, ms, outcome);
            context.log("debug", `served ${command} in ${ms.toFixed(1)} ms`);
          },
        },
        busy,
      );
    },
    data: (socket: Socket<Connection>, chunk: Buffer) => socket.data?.onData(chunk),
    end: (socket: Socket<Connection>) => socket.data?.onEnd(),
    drain: (socket: Socket<Connection>) => socket.data?.onDrain(),
    close: (socket: Socket<Connection>) => socket.data?.onClose(),
    error: (socket: Socket<Connection>) => socket.data?.onClose(),
  };
  let listener: TCPSocketListener<Connection>;
  try {
    // reusePort is read by Bun.listen, though bun-types only declares it for connect.
    const options = { hostname: spec.host, port: spec.port, reusePort: true, allowHalfOpen: true, socket };
    listener = Bun.listen<Connection>(options as unknown as Bun.TCPSocketListenOptions<Connection>);
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, spec.host, spec.port));
  }
  return { stop: () => listener.stop(false) };
}
