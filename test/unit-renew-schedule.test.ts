// depot renew's decisions with an injected clock and random number: when a certificate is due (two thirds, --renew-before, jitter bounds), how often it is looked at, how failures back off; and the server's own decisions on a renewal (expiry grace, revocation, the proof's time window and audience, replays, the capped lifetime).
import { describe, expect, test } from "bun:test";
import type { CertificateRecord } from "../src/ca/ledger.ts";
import { checkClaims, renewalRefusal, renewedLifetimeMs, SeenProofs } from "../src/http/api/renew-proof.ts";
import { checkInterval, JITTER_FRACTION, MAX_JITTER_MS, MAX_RETRY_MS, nextWakeMs, renewalDue, renewalDueAfterRenewal, retryDelay } from "../src/renew/schedule.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const start = new Date("2030-01-01T00:00:00Z");
const life = (ms: number) => ({ notBefore: start, notAfter: new Date(start.getTime() + ms) });
const at = (ms: number) => new Date(start.getTime() + ms);

describe("when a certificate is due", () => {
  test("two thirds of the life, with no jitter", () => {
    expect(renewalDue(life(90 * DAY), undefined, 0)).toEqual(at(60 * DAY));
    expect(renewalDue(life(3 * HOUR), undefined, 0)).toEqual(at(2 * HOUR));
  });

  test("--renew-before brings it forward when less than that would be left at two thirds, and never puts it later", () => {
    // 1-day certificate, --renew-before 2d: due before it was even issued, so at once.
    expect(renewalDue(life(DAY), 2 * DAY, 0).getTime()).toBeLessThan(start.getTime());
    // 90 days, --renew-before 45d: at day 45, not 60.
    expect(renewalDue(life(90 * DAY), 45 * DAY, 0)).toEqual(at(45 * DAY));
    // 90 days, --renew-before 7d: two thirds comes first.
    expect(renewalDue(life(90 * DAY), 7 * DAY, 0)).toEqual(at(60 * DAY));
  });

  test("a certificate just renewed is not due again at once for a --renew-before longer than its life: two thirds hold", () => {
    expect(renewalDueAfterRenewal(life(DAY), 2 * DAY, 0, at(0))).toEqual(at((DAY * 2) / 3));
    // When --renew-before leaves time, it still counts.
    expect(renewalDueAfterRenewal(life(90 * DAY), 45 * DAY, 0, at(0))).toEqual(at(45 * DAY));
  });

  test("jitter only brings it forward, by at most a twentieth of the life and at most six hours", () => {
    const shortLife = 10 * HOUR;
    expect(renewalDue(life(shortLife), undefined, 1)).toEqual(new Date(at((shortLife * 2) / 3).getTime() - shortLife * JITTER_FRACTION));
    expect(renewalDue(life(90 * DAY), undefined, 1)).toEqual(new Date(at(60 * DAY).getTime() - MAX_JITTER_MS));
    for (let i = 0; i < 200; i++) {
      const due = renewalDue(life(30 * DAY), undefined, Math.random()).getTime();
      expect(due).toBeLessThanOrEqual(at(20 * DAY).getTime());
      expect(due).toBeGreaterThanOrEqual(at(20 * DAY).getTime() - MAX_JITTER_MS);
    }
    // Out-of-range numbers are clamped, never put it after two thirds.
    expect(renewalDue(life(90 * DAY), undefined, -5)).toEqual(at(60 * DAY));
    expect(renewalDue(life(90 * DAY), undefined, 7)).toEqual(new Date(at(60 * DAY).getTime() - MAX_JITTER_MS));
  });
});

describe("how often it is looked at, and how failures back off", () => {
  test("an hour, or a tenth of a shorter life; --every as given", () => {
    expect(checkInterval(life(90 * DAY), undefined)).toBe(HOUR);
    expect(checkInterval(life(5 * HOUR), undefined)).toBe(HOUR / 2);
    expect(checkInterval(life(5_000), undefined)).toBe(1_000);
    expect(checkInterval(life(90 * DAY), 1_000)).toBe(1_000);
  });

  test("the sleep ends when due, or after the interval, whichever is first; 0 when due", () => {
    expect(nextWakeMs(at(0), at(10 * HOUR), HOUR)).toBe(HOUR);
    expect(nextWakeMs(at(0), at(5_000), HOUR)).toBe(5_000);
    expect(nextWakeMs(at(10_000), at(5_000), HOUR)).toBe(0);
  });

  test("retries double from 10 s (or --every, if shorter) and stop growing at an hour", () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, undefined))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect([1, 2, 3].map((n) => retryDelay(n, 1_000))).toEqual([1_000, 2_000, 4_000]);
    expect(retryDelay(12, undefined)).toBe(MAX_RETRY_MS);
    expect(retryDelay(1_000, undefined)).toBe(MAX_RETRY_MS);
  });
});

describe("the server's decisions on a renewal", () => {
  const record = (over: Partial<CertificateRecord> = {}): CertificateRecord => ({
    serial: "0a1b",
    subject: "CN=www.example.com",
    type: "server",
    keyType: "ec-p256",
    notBefore: start,
    notAfter: at(DAY),
    fingerprint: "00",
    pem: "",
    status: "valid",
    ...over,
  });

  test("a valid certificate may be renewed; the CA's own row, a revoked one and one not yet valid may not", () => {
    expect(renewalRefusal(record(), at(HOUR), 0)).toBeUndefined();
    expect(renewalRefusal(record({ type: "ca" }), at(HOUR), 0)?.status).toBe(403);
    const revoked = renewalRefusal(record({ status: "revoked", revokedAt: at(HOUR) }), at(2 * HOUR), 30 * DAY);
    expect({ status: revoked?.status, slug: revoked?.slug }).toEqual({ status: 403, slug: "revoked" });
    expect(renewalRefusal(record(), at(-HOUR), 0)?.status).toBe(401);
  });

  test("expired: refused by default; within --renew-after-expiry allowed, beyond it refused", () => {
    const refusedByDefault = renewalRefusal(record(), at(DAY + 1_000), 0);
    expect({ status: refusedByDefault?.status, slug: refusedByDefault?.slug }).toEqual({ status: 403, slug: "expired" });
    expect(refusedByDefault?.detail).toContain("--renew-after-expiry");
    expect(renewalRefusal(record(), at(DAY), 0)).toBeUndefined(); // its last second
    expect(renewalRefusal(record(), at(DAY + 2 * DAY), 7 * DAY)).toBeUndefined();
    const tooLate = renewalRefusal(record(), at(DAY + 8 * DAY), 7 * DAY);
    expect(tooLate?.status).toBe(403);
    expect(tooLate?.detail).toContain("up to 7d after they expire");
  });

  test("the proof's time window: at most 5 minutes long, a minute of skew either way", () => {
    const now = at(0);
    const s = now.getTime() / 1000;
    const aud = "https://ca.test:8443/v1/renew";
    const claims = (c: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify({ aud, jti: "0123456789", ...c }));
    expect(checkClaims(claims({ iat: s, exp: s + 300 }), [aud], now).jti).toBe("0123456789");
    expect(checkClaims(claims({ iat: s + 50, exp: s + 100 }), [aud], now).iat).toBe(s + 50); // a client clock a little ahead
    expect(checkClaims(claims({ iat: s - 350, exp: s - 50 }), [aud], now).exp).toBe(s - 50); // just expired, within the skew
    const status = (c: Record<string, unknown>, audiences = [aud]) => {
      try {
        checkClaims(claims(c), audiences, now);
        return 200;
      } catch (error) {
        return (error as { status: number }).status;
      }
    };
    expect(status({ iat: s, exp: s + 301 })).toBe(400); // too long
    expect(status({ iat: s, exp: s })).toBe(400);
    expect(status({ iat: s + 120, exp: s + 200 })).toBe(401); // from the future
    expect(status({ iat: s - 400, exp: s - 100 })).toBe(401); // stale
    expect(status({ iat: s, exp: s + 60, aud: "https://other.test/v1/renew" })).toBe(401);
    expect(status({ iat: s, exp: s + 60, aud: "HTTPS://CA.test:8443/v1/renew" })).toBe(200); // the same URL, as URL parsing compares
    expect(status({ iat: s, exp: s + 60, jti: "short" })).toBe(400);
    expect(status({ iat: "now", exp: s + 60 })).toBe(400);
  });

  test("a jti is taken once until its proof expires", () => {
    const seen = new SeenProofs(3);
    expect(seen.take("a", 1_000, 0)).toBe(true);
    expect(seen.take("a", 1_000, 500)).toBe(false);
    expect(seen.take("a", 2_000, 1_001)).toBe(true); // expired, so no longer a replay within the window
    // Full: expired entries are swept first, then the oldest live one goes.
    for (const key of ["b", "c", "d"]) expect(seen.take(key, 10_000, 1_500)).toBe(true);
    expect(seen.take("b", 10_000, 1_600)).toBe(false);
  });

  test("the new lifetime is the old one, cut to end a minute before the CA does", () => {
    const now = at(HOUR);
    expect(renewedLifetimeMs(record(), at(400 * DAY), now, 300_000)).toBe(DAY);
    const caEnd = at(HOUR + 10 * 60_000);
    expect(renewedLifetimeMs(record(), caEnd, now, 300_000)).toBe(caEnd.getTime() - (now.getTime() - 300_000) - 60_000);
    expect(renewedLifetimeMs(record(), at(0), now, 300_000)).toBe(0);
  });
});
