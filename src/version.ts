/**
 * @module What `depot --version` reports: the version, and the commit the
 * binary was built from. Both are defined at build time by build.ts; run
 * from source, the version comes from package.json and the commit is unknown.
 */
import packageJson from "../package.json" with { type: "json" };

declare const DEPOT_VERSION: string | undefined;
declare const DEPOT_COMMIT: string | undefined;

export const VERSION: string = typeof DEPOT_VERSION === "string" ? DEPOT_VERSION : packageJson.version;
/** Short git hash, with `-dirty` if built from uncommitted changes; `unknown` outside git or from source. */
export const COMMIT: string = typeof DEPOT_COMMIT === "string" ? DEPOT_COMMIT : "unknown";

/** The line `depot --version` prints. */
export const VERSION_LINE = `depot ${VERSION} (commit ${COMMIT})`;
