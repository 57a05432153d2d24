/**
 * What is on the wire between our TCP and the Linux kernel's, read back with tcpdump (captured
 * on tap0 inside the namespace): window scaling, timestamps and SACK-permitted in both SYNs of a
 * connection either side opens, timestamps on every later segment of ours (RFC 7323 3.2), our
 * checksums correct, and SACK blocks flowing both ways once frames are lost.
 */

import { assert, assertEquals } from "@std/assert";
import { interopTest, type Namespace, withNamespace } from "../helpers/netns.ts";
import { type Segment, seqAfter, startCapture } from "./fixtures/tcp_capture.ts";
import {
  DEVICE,
  HOST,
  only,
  ping,
  runKernel,
  setUpTap,
  spawnKernel,
  startPeer,
  stopPeer,
  waitRecord,
} from "./fixtures/tcp_harness.ts";

const BYTES = 1_000_000;

/** Kernel client -> our sink on `port`, then our client -> kernel sink on `port + 1`. */
async function transferBothWays(
  ns: Namespace,
  port: number,
  extra: string[],
  env: Record<string, string> = {},
): Promise<void> {
  const server = await startPeer(ns, ["sink", String(port), ...extra], env);
  await ping(ns);
  const sent = only(await runKernel(ns, ["send", DEVICE, String(port), String(BYTES)]), "conn");
  const got = await waitRecord(server, "conn", 30_000);
  assertEquals(got.sha256In, sent.sha256Out);
  await stopPeer(server);
  const sink = spawnKernel(ns, ["sink", String(port + 1)]);
  await waitRecord(sink, "ready", 10_000);
  const client = await startPeer(
    ns,
    ["send", HOST, String(port + 1), String(BYTES), ...extra],
    env,
  );
  const ours = await waitRecord(client, "conn", 60_000);
  const theirs = await waitRecord(sink, "conn", 10_000);
  assertEquals(ours.error, null);
  assertEquals(theirs.sha256In, ours.sha256Out);
  await client.exited;
}

function describe(s: Segment): string {
  return `${s.src}.${s.srcPort} > ${s.dst}.${s.dstPort} [${s.flags}] options [${s.options}]`;
}

/** The option names RFC 7323 and RFC 2018 negotiate, all present in `s`. */
function assertNegotiates(s: Segment): void {
  for (const option of ["mss ", "wscale ", "TS val ", "sackOK"]) {
    assert(s.options.includes(option), `no '${option.trim()}' in ${describe(s)}`);
  }
  const shift = Number(/wscale (\d+)/.exec(s.options)?.[1]);
  assert(shift >= 0 && shift <= 14, `wscale ${shift} outside RFC 7323 2.3's 0..14`);
}

interopTest("both SYNs carry wscale, TS and sackOK, whichever side opens", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const capture = await startCapture(ns);
    try {
      // Plain frames: with the TAP's offloads the kernel finishes our checksums and cuts our
      // super-segments after the capture point, so neither could be checked here.
      await transferBothWays(ns, 7401, [], { MIP_NO_OFFLOAD: "1" });
      const segments = await capture.stop();
      const syns = segments.filter((s) => s.flags === "S");
      const synAcks = segments.filter((s) => s.flags === "S.");
      // The kernel opens to us (port 7401), we open to the kernel (port 7402).
      const kernelSyn = syns.find((s) => s.src === HOST && s.dstPort === 7401);
      const ourSynAck = synAcks.find((s) => s.src === DEVICE && s.srcPort === 7401);
      const ourSyn = syns.find((s) => s.src === DEVICE && s.dstPort === 7402);
      const kernelSynAck = synAcks.find((s) => s.src === HOST && s.srcPort === 7402);
      for (const s of [kernelSyn, ourSynAck, ourSyn, kernelSynAck]) {
        if (!s) {
          throw new Error(`missing a handshake segment in:\n${syns.concat(synAcks).map(describe)}`);
        }
        assertNegotiates(s);
      }
      const ours = segments.filter((s) => s.src === DEVICE);
      // The capture is complete: every byte we sent to the kernel is in it.
      const sent = ours.filter((s) => s.dstPort === 7402).reduce((n, s) => n + s.payloadLength, 0);
      assert(sent >= BYTES, `only ${sent} of our ${BYTES} bytes captured`);
      const noTs = ours.filter((s) => !s.flags.includes("R") && !s.options.includes("TS val"));
      assertEquals(noTs.map(describe).slice(0, 5), [], "RFC 7323 3.2: TS on every segment");
      const badSum = ours.filter((s) => s.checksumOk === false);
      assertEquals(badSum.map(describe).slice(0, 5), [], "our checksums");
      // Our data segments are full-sized: MSS 1460 minus the 12 bytes of timestamps.
      const biggest = Math.max(...ours.map((s) => s.payloadLength));
      assertEquals(biggest, 1448);
    } finally {
      await capture.close();
    }
  }, "tcp-options");
});

interopTest("SACK blocks both ways when frames are lost (--impair loss=5%)", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const capture = await startCapture(ns);
    try {
      await transferBothWays(ns, 7411, ["--impair", "loss=5%,seed=3"]);
      const segments = await capture.stop();
      const ourSacks = segments.filter((s) => s.src === DEVICE && s.sack.length > 0);
      const kernelSacks = segments.filter((s) => s.src === HOST && s.sack.length > 0);
      console.log(
        `SACK-bearing ACKs: ours ${ourSacks.length}, kernel's ${kernelSacks.length}; e.g. ` +
          (ourSacks[0] ? describe(ourSacks[0]) : "-"),
      );
      assert(ourSacks.length > 0, "we sent no SACK block while receiving through loss");
      assert(kernelSacks.length > 0, "the kernel sent no SACK block while we sent through loss");
      // RFC 2018 3: each block is non-empty and above the cumulative ACK, except that the first
      // may report a duplicate (RFC 2883 4): below the ACK, or inside the second block.
      let dsacks = 0;
      for (const s of ourSacks) {
        assert(s.sack.length <= 4, `too many blocks: ${describe(s)}`);
        s.sack.forEach(([left, right], i) => {
          assert(seqAfter(right, left), `empty block in ${describe(s)}`);
          if (i === 0 && isDsack(s.sack, s.ack!)) {
            dsacks++;
            return;
          }
          assert(seqAfter(left, s.ack!), `block at or below ack ${s.ack} in ${describe(s)}`);
        });
      }
      console.log(`of ours, ${dsacks} carried a D-SACK block`);
    } finally {
      await capture.close();
    }
  }, "tcp-sack");
});

/** RFC 2883 4: the first block reports a duplicate when it lies at or below the ACK, or inside
 * the second block. */
function isDsack(blocks: [number, number][], ack: number): boolean {
  const [first, second] = blocks;
  if (first === undefined) return false;
  if (!seqAfter(first[1], ack)) return true;
  return second !== undefined && !seqAfter(second[0], first[0]) && !seqAfter(first[1], second[1]);
}
