/**
 * @module
 * The log's levels, shared by the server that writes the log and the faces
 * that hand it lines (the line protocol's services), so no face imports
 * the server.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
