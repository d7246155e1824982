/**
 * @module
 * Maps a listener kind to the module that opens it in a worker. Loaded
 * lazily, so a worker pays only for the kinds it serves.
 */
import type { ListenerContext, OpenedListener } from "./context.ts";
import type { ListenerKind, ListenerSpec } from "./types.ts";

export type OpenListener<S extends ListenerSpec = ListenerSpec> = (spec: S, context: ListenerContext) => OpenedListener | Promise<OpenedListener>;

type Openers = { [K in ListenerKind]: () => Promise<OpenListener<Extract<ListenerSpec, { kind: K }>>> };

const OPENERS: Openers = {
  line: () => import("./line.ts").then((m) => m.open),
  http: () => import("./http.ts").then((m) => m.open),
  https: () => import("./https.ts").then((m) => m.open),
};

/** Opens one listener of any kind; throws what its module throws (a bind error). */
export async function openListener(spec: ListenerSpec, context: ListenerContext): Promise<OpenedListener> {
  const open = (await OPENERS[spec.kind]()) as OpenListener;
  return open(spec, context);
}
