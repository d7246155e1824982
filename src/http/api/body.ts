/**
 * @module
 * Reading a JSON request body: the media type (415), the size (413, counted
 * as the bytes arrive, whatever Content-Length claims), the syntax (400).
 */
import { HttpProblem } from "../problem.ts";

/** Enough for a 16 KiB certificate request in JSON, with room to spare. */
export const MAX_JSON_BYTES = 64 * 1024;

/** The body as a JSON object; `optional` accepts an empty body as `{}`. */
export async function readJsonObject(request: Request, optional = false): Promise<Record<string, unknown>> {
  const declared = request.headers.get("content-length");
  if (optional && (declared === "0" || (declared === null && request.body === null))) return {};
  const type = request.headers.get("content-type");
  if (!type || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpProblem(415, `send the body as application/json${type ? `, not ${type.split(";")[0]}` : " (Content-Type is missing)"}`, {
      headers: { "accept-post": "application/json" },
    });
  }
  if (declared !== null && Number(declared) > MAX_JSON_BYTES) throw tooLarge();
  const text = await readCapped(request);
  if (optional && text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpProblem(400, `the body is not JSON (${(error as Error).message})`, { slug: "bad-json" });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpProblem(400, "the body must be a JSON object", { slug: "bad-json" });
  return value as Record<string, unknown>;
}

async function readCapped(request: Request): Promise<string> {
  if (!request.body) return "";
  let bytes: Uint8Array;
  if (request.headers.has("content-length")) {
    // Declared and within the limit (checked above); the server holds a body to what it declared.
    bytes = new Uint8Array(await request.arrayBuffer());
  } else {
    // Chunked: counted as it arrives (ten times faster the other way, hence both).
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_JSON_BYTES) throw tooLarge();
      chunks.push(chunk);
    }
    bytes = Buffer.concat(chunks);
  }
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  try {
    return text.decode(bytes);
  } catch {
    throw new HttpProblem(400, "the body is not valid UTF-8", { slug: "bad-json" });
  }
}

function tooLarge(): HttpProblem {
  return new HttpProblem(413, `the body is larger than ${MAX_JSON_BYTES / 1024} KiB`);
}

/** Refuses members the endpoint does not know: a typo must not silently fall back to a default. */
export function rejectUnknownFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown !== undefined) throw new HttpProblem(400, `unknown field '${unknown.slice(0, 40)}' (known: ${known.join(", ")})`, { slug: "bad-request" });
}

export function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new HttpProblem(400, `${name} must be a string`, { slug: "bad-request" });
  return value;
}
