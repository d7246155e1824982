/** @module Ids of ACME accounts, orders, authorizations and challenges: 128 random bits, base64url. */
import { randomBytes } from "node:crypto";

export const newId = () => randomBytes(16).toString("base64url");
