// The key pool hands out each key once, fills only when idle, and caps keys made at once.
import { expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { createPublicKey } from "node:crypto";
import { KeyPool } from "../src/server/key-pool.ts";

const spkiOf = (pem: string) => createPublicKey(pem).export({ type: "spki", format: "der" }).toString("hex");

test("fills to its capacity while idle, then hands out each pooled key once", async () => {
  const pool = new KeyPool("ec-p256", 4, 1);
  pool.fill();
  const deadline = performance.now() + 5000;
  while (pool.size < 4 && performance.now() < deadline) await Bun.sleep(10);
  expect(pool.size).toBe(4);
  const keys = await Promise.all([pool.take(), pool.take(), pool.take(), pool.take(), pool.take(), pool.take()]);
  const distinct = new Set(keys.map((k) => spkiOf(k.privateKeyPem)));
  expect(distinct.size).toBe(6);
  // Every public key handed out is the one of its private key.
  for (const key of keys) expect(Buffer.from(key.publicKeyDer).toString("hex")).toBe(spkiOf(key.privateKeyPem));
  pool.stop();
});

test("does not refill while keys are being asked for (50 ms of quiet first)", async () => {
  const pool = new KeyPool("ec-p256", 8, 1);
  // Ask every 10 ms for 200 ms: the pool must stay empty the whole time.
  const sizes: number[] = [];
  for (let i = 0; i < 20; i++) {
    await pool.take();
    sizes.push(pool.size);
    await Bun.sleep(10);
  }
  expect(Math.max(...sizes)).toBe(0);
  await Bun.sleep(400);
  expect(pool.size).toBeGreaterThan(0);
  pool.stop();
});

test("with a capacity of 0 it only makes keys on demand", async () => {
  const pool = new KeyPool("ed25519", 0, 1);
  const key = await pool.take();
  expect(key.privateKeyPem).toStartWith("-----BEGIN PRIVATE KEY-----\n");
  await Bun.sleep(100);
  expect(pool.size).toBe(0);
  pool.stop();
});

test("makes as many RSA keys at once as there are cores (or `concurrency`, if more), and the event loop runs meanwhile", async () => {
  for (const concurrency of [1, 3]) {
    // A worker alone with requests uses every core (the other worker may have none).
    const expected = Math.max(concurrency, availableParallelism());
    const pool = new KeyPool("rsa-2048", 0, concurrency);
    let most = 0;
    let ticks = 0;
    const watch = setInterval(() => {
      most = Math.max(most, pool.making);
      ticks++;
    }, 1);
    await Promise.all(Array.from({ length: 4 }, () => pool.take()));
    clearInterval(watch);
    expect(most).toBe(expected);
    // RSA keys come from node:crypto's thread pool: timers keep firing.
    expect(ticks).toBeGreaterThan(20);
    pool.stop();
  }
});
