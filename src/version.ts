import packageJson from "../package.json" with { type: "json" };

/** Set at build time by build.ts; from package.json when run from source. */
declare const DEPOT_VERSION: string | undefined;
export const VERSION: string = typeof DEPOT_VERSION === "string" ? DEPOT_VERSION : packageJson.version;
