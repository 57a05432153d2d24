/**
 * The dashboard's login rate limit over the appliance's own TCP (http/dashboard/auth.ts: five
 * failed password checks per client and minute, then 429 with Retry-After, and while a client is
 * limited even the right password is refused), probed one request at a time with curl and with
 * concurrent guesses from the raw client.
 */

import { assert, assertEquals } from "@std/assert";
import { interopTest } from "../helpers/netns.ts";
import {
  basicAuth,
  curlResponse,
  DEVICE,
  PASSWORD,
  rawBurst,
  withWebAppliance,
} from "./fixtures/http_setup.ts";

/** auth.ts DEFAULT_AUTH_OPTIONS.maxFailuresPerClient. */
const MAX_FAILURES = 5;
const URL = `http://${DEVICE}/api/settings/get`;

interopTest(
  "login rate limit: 5 wrong passwords, then 429 with Retry-After, even for the right one",
  async () => {
    await withWebAppliance("http-auth", ["--https-port", "0"], async (ns) => {
      for (let i = 1; i <= MAX_FAILURES; i++) {
        const wrong = await curlResponse(ns, ["-u", `admin:guess-${i}`, URL]);
        assertEquals(wrong.status, 403, `guess ${i}`);
      }
      const limited = await curlResponse(ns, ["-u", "admin:guess-6", URL]);
      assertEquals(limited.status, 429);
      const retryAfter = Number(limited.headers.get("retry-after"));
      assert(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      const right = await curlResponse(ns, ["-u", `admin:${PASSWORD}`, URL]);
      assertEquals(right.status, 429, "the right password is refused while limited");
    });
  },
);

interopTest(
  "login rate limit: 20 concurrent different guesses get at most 5 password checks",
  async () => {
    await withWebAppliance("http-auth-burst", ["--https-port", "0"], async (ns) => {
      // Twenty different guesses, one per connection, all sent before any answer can arrive.
      const requests = Array.from(
        { length: 20 },
        (_, i) =>
          `GET /api/settings/get HTTP/1.1\r\nHost: ${DEVICE}\r\n` +
          `Authorization: ${basicAuth(`guess-${i}`)}\r\nConnection: close\r\n\r\n`,
      );
      const statuses = await rawBurst(ns, requests);
      const checked = statuses.filter((s) => s === 403).length;
      const limited = statuses.filter((s) => s === 429).length;
      console.log(`20 concurrent guesses: ${checked} x 403 (password checked), ${limited} x 429`);
      assertEquals(checked + limited, 20, `statuses: ${statuses.join(" ")}`);
      // auth.ts: "while a client is limited even a correct password is refused (429), so guessing
      // cannot continue". Guesses in flight together must count too, or a client gets as many
      // guesses per minute as it can open connections (and as many 600k-round PBKDF2 runs).
      assert(
        checked <= MAX_FAILURES,
        `${checked} concurrent guesses were checked against the password; the limit is ${MAX_FAILURES}`,
      );
    });
  },
);
