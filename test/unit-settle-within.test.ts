import { describe, expect, test } from "bun:test";
import { settleWithin } from "../src/settle-within.ts";

describe("settleWithin", () => {
  test("gives the work's value and never calls onTimeout once the work settled", async () => {
    let late = 0;
    expect(await settleWithin(Promise.resolve(7), 30, () => ++late)).toBe(7);
    await Bun.sleep(60);
    expect(late).toBe(0);
  });

  test("passes the work's rejection on, and its timer does not fire afterwards", async () => {
    let late = 0;
    await expect(settleWithin(Promise.reject(new Error("refused")), 30, () => ++late)).rejects.toThrow("refused");
    await Bun.sleep(60);
    expect(late).toBe(0);
  });

  test("answers with onTimeout's value when the work is slower", async () => {
    expect(await settleWithin(Bun.sleep(200).then(() => "slow"), 20, () => "late")).toBe("late");
  });

  test("rejects with what onTimeout throws", async () => {
    await expect(
      settleWithin(new Promise(() => {}), 20, () => {
        throw new Error("no answer within 20 ms");
      }),
    ).rejects.toThrow("no answer within 20 ms");
  });
});
