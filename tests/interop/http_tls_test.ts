/**
 * HTTPS on the appliance's own TCP against the kernel side's OpenSSL clients: curl negotiates
 * TLS 1.3, `openssl s_client -tls1_3` completes a handshake and gets an HTTP/1.1 answer over it
 * (the session cookie carries Secure over HTTPS), the self-signed certificate names the device's
 * address and is reused after a restart with the same --state-dir, and --tls-cert/--tls-key
 * serve the given certificate instead.
 */

import { assertEquals, assertMatch, assertNotMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, type Namespace, withNamespace } from "../helpers/netns.ts";
import { run } from "../helpers/process.ts";
import { basicAuth, curl, DEVICE, HOST, webArgs } from "./fixtures/http_setup.ts";

const READY = { ready: /ready on tap0/, readyTimeoutMs: 30_000 };

/** SHA-256 fingerprint of the certificate the appliance presents on 443. */
async function servedFingerprint(ns: Namespace): Promise<string> {
  const script = `openssl s_client -connect ${DEVICE}:443 </dev/null 2>/dev/null | ` +
    "openssl x509 -noout -fingerprint -sha256";
  const result = await ns.exec(["sh", "-c", script], { timeoutMs: 15_000 });
  return fingerprintOf(result.stdout);
}

function fingerprintOf(text: string): string {
  const match = /sha256 Fingerprint=([0-9A-F:]{95})/i.exec(text);
  if (match === null) throw new Error(`No SHA-256 fingerprint in: ${text}`);
  return match[1]!.toUpperCase();
}

interopTest(
  "HTTPS: curl and openssl s_client speak TLS 1.3; the certificate survives a restart",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "mip-state-" });
    try {
      await withNamespace(async (ns) => {
        await ns.addTap("tap0", `${HOST}/24`);
        const args = webArgs(["--state-dir", stateDir]);
        const app = await startAppliance(ns, args, READY);
        let first: string;
        try {
          const page = await curl(ns, [
            "-k",
            "-v",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            `https://${DEVICE}/`,
          ]);
          assertEquals(page.stdout, "200", page.stderr);
          assertMatch(page.stderr, /SSL connection using TLSv1\.3 \//);

          const brief = await ns.exec([
            "openssl",
            "s_client",
            "-connect",
            `${DEVICE}:443`,
            "-tls1_3",
            "-brief",
          ], {
            stdin: "",
            timeoutMs: 15_000,
            check: false,
          });
          assertMatch(brief.stderr, /CONNECTION ESTABLISHED/);
          assertMatch(brief.stderr, /Protocol version: TLSv1\.3/);

          // An HTTP/1.1 request written through s_client: answered, with a Secure session cookie.
          const request = [
            "GET /api/login HTTP/1.1",
            `Host: ${DEVICE}`,
            `Authorization: ${basicAuth()}`,
            "Connection: close",
            "",
            "",
          ].join("\r\n");
          const exchange = await ns.exec([
            "openssl",
            "s_client",
            "-connect",
            `${DEVICE}:443`,
            "-tls1_3",
            "-quiet",
            "-ign_eof",
          ], { stdin: request, timeoutMs: 15_000, check: false });
          assertMatch(exchange.stdout, /^HTTP\/1\.1 200 OK\r\n/);
          assertMatch(exchange.stdout, /\r\nset-cookie: access_token=[^\r]*; Secure\r\n/i);
          assertMatch(exchange.stdout, /\{"user":"admin"\}/);

          first = await servedFingerprint(ns);
          const san = await ns.exec([
            "sh",
            "-c",
            `openssl s_client -connect ${DEVICE}:443 </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`,
          ]);
          assertMatch(san.stdout, new RegExp(`IP Address:${DEVICE.replaceAll(".", "\\.")}`));
          assertMatch(app.output(), /Generated a self-signed certificate/);
        } finally {
          assertEquals(await app.stop(), 0, app.output());
        }

        const again = await startAppliance(ns, args, READY);
        try {
          assertEquals(await servedFingerprint(ns), first, "same certificate after the restart");
          assertNotMatch(again.output(), /Generated a self-signed certificate/);
        } finally {
          await again.stop();
        }
      }, "http-tls");
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
);

interopTest("HTTPS: --tls-cert/--tls-key serve the given certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mip-tls-" });
  try {
    const cert = `${dir}/cert.pem`;
    const key = `${dir}/key.pem`;
    await run([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=interop.test",
      "-addext",
      `subjectAltName=IP:${DEVICE}`,
    ], { check: true });
    const own = fingerprintOf(
      (await run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], {
        check: true,
      })).stdout,
    );
    await withNamespace(async (ns) => {
      await ns.addTap("tap0", `${HOST}/24`);
      const app = await startAppliance(ns, webArgs(["--tls-cert", cert, "--tls-key", key]), READY);
      try {
        assertEquals(await servedFingerprint(ns), own);
        // Verified against the given certificate as the only trust anchor.
        const verified = await curl(ns, [
          "--cacert",
          cert,
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `https://${DEVICE}/`,
        ]);
        assertEquals(verified.stdout, "200", verified.stderr);
        assertNotMatch(app.output(), /Generated a self-signed certificate/);
        const selfSigned = await Deno.stat(`${app.stateDir}/tls`).then(() => true, () => false);
        assertEquals(selfSigned, false, "no self-signed certificate generated");
      } finally {
        await app.stop();
      }
    }, "http-tls-own");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
