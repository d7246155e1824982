/**
 * @module
 * What a route handler that takes a token is given: the request, the token
 * it authenticated with, who asked (for the audit record), the services.
 */
import type { TokenRecord } from "../../ca/tokens.ts";
import type { ApiServices, Requester } from "./services.ts";

export interface Call {
  request: Request;
  url: URL;
  token: TokenRecord;
  requester: Requester;
  services: ApiServices;
  now: Date;
}
