/**
 * The live-stats WebSocket (/api/ws) on the appliance's own TCP, against a raw RFC 6455 client
 * on the kernel side (Python in the namespace, its own handshake and framing): Basic and cookie
 * authentication, the Sec-WebSocket-Accept check, the greeting and a timer push carrying the
 * device's real figures, a clean close; refused without credentials and cross-origin.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { interopTest } from "../helpers/netns.ts";
import {
  basicAuth,
  curlResponse,
  DEVICE,
  PASSWORD,
  withWebAppliance,
  wsExchange,
} from "./fixtures/http_setup.ts";

interface StatsPush {
  name: string;
  data: {
    uptime: number;
    ipv4: { address: string } | null;
    tcp: { total: number; byState: Record<string, number> };
  };
}

interopTest(
  "WebSocket /api/ws: stats pushes with Basic or cookie auth; refused otherwise",
  async () => {
    await withWebAppliance("http-websocket", ["--https-port", "0"], async (ns) => {
      const basic = await wsExchange(ns, "/api/ws", { Authorization: basicAuth() }, 2);
      assertMatch(basic.status, /^HTTP\/1\.1 101 /);
      assert(basic.acceptOk, `Sec-WebSocket-Accept: ${basic.headers["sec-websocket-accept"]}`);
      assertEquals(basic.headers["upgrade"]?.toLowerCase(), "websocket");
      assertEquals(basic.messages.length, 2, "the greeting and one timer push");
      const [greeting, push] = basic.messages.map((m) => JSON.parse(m) as StatsPush);
      assertEquals([greeting!.name, push!.name], ["stats", "stats"]);
      assertEquals(push!.data.ipv4?.address, DEVICE);
      assert((push!.data.tcp.byState["ESTABLISHED"] ?? 0) >= 1, "our own connection is counted");
      assert(push!.data.uptime >= greeting!.data.uptime, "uptime moves on");
      assertEquals(basic.closeCode, 1000, "the server answers our close with 1000");

      const login = await curlResponse(ns, [
        "-u",
        `admin:${PASSWORD}`,
        `http://${DEVICE}/api/login`,
      ]);
      const token = /access_token=([^;]+)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
      assert(token !== undefined, "a session cookie");
      const cookie = await wsExchange(ns, "/api/ws", { Cookie: `access_token=${token}` }, 1);
      assertMatch(cookie.status, /^HTTP\/1\.1 101 /);
      assertEquals(JSON.parse(cookie.messages[0]!).name, "stats");

      const anonymous = await wsExchange(ns, "/api/ws", {}, 1);
      assertMatch(anonymous.status, /^HTTP\/1\.1 403 /);
      assertEquals(anonymous.messages, []);
      // A page of another origin cannot ride on the cookie (cross-site WebSocket hijacking).
      const foreign = await wsExchange(ns, "/api/ws", {
        Cookie: `access_token=${token}`,
        Origin: "http://evil.example",
      }, 1);
      assertMatch(foreign.status, /^HTTP\/1\.1 403 /);
    });
  },
);
