/**
 * In-process microbenchmarks of the hot paths: the Internet checksum, a Stack turning an ICMP
 * echo request frame into a reply, the IPv4 header check, and the FrameRing slot cycle.
 * Run with `deno bench --allow-all tests/bench/micro_bench.ts` (or `deno task bench --micro`).
 *
 * Invariants: every input is built once, before the benches, from fixed seeds; the stack bench
 * checks at load time that one input really produces one echo reply, so it can never be timing
 * a drop path; nothing grows per iteration (the sink reuses one buffer and only counts).
 * @module
 */

import type { FrameSink } from "../../stack/link.ts";
import { SeededRandom } from "../../stack/random.ts";
import { FrameRing } from "../../stack/ring.ts";
import { Stack } from "../../stack/stack.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { emitArp } from "../../stack/wire/arp.ts";
import { internetChecksum } from "../../stack/wire/checksum.ts";
import { emitEthernet, EtherType } from "../../stack/wire/ethernet.ts";
import { emitIcmp, IcmpType } from "../../stack/wire/icmp.ts";
import { emitIpv4, Ipv4Packet } from "../../stack/wire/ipv4.ts";
import { IpProtocol } from "../../stack/transport.ts";
import { ethernetIpv4, pattern } from "../stack/frames.ts";

const PEER_MAC = "02:00:00:00:00:0a";
const PEER_IP = "10.0.0.1";
const STACK_MAC = "02:00:00:00:00:0b";
const STACK_IP = "10.0.0.2";
/** A fixed time: the ARP entry learned at this time stays fresh for every iteration. */
const NOW_MS = 1_000;

/** A sink that builds every frame in one buffer and only counts them. */
class CountingSink implements FrameSink {
  readonly mtu = 1500;
  frames = 0;
  readonly buffer = new Uint8Array(2048);

  acquire(length: number): Uint8Array | null {
    return length <= this.buffer.length ? this.buffer : null;
  }

  commit(_length: number): void {
    this.frames++;
  }
}

/** An Ethernet frame holding an ICMP echo request from the peer to the stack. */
function echoRequestFrame(payloadBytes: number): Uint8Array {
  const icmp = new Uint8Array(8 + payloadBytes);
  icmp.set(pattern(payloadBytes, 3), 8);
  emitIcmp(icmp, IcmpType.ECHO_REQUEST, 0, 0x1234, 1);
  const packet = new Uint8Array(20 + icmp.length);
  emitIpv4(packet, 0, {
    totalLength: packet.length,
    identification: 1,
    protocol: IpProtocol.ICMP,
    src: parseIpv4(PEER_IP),
    dst: parseIpv4(STACK_IP),
  });
  packet.set(icmp, 20);
  return ethernetIpv4(STACK_MAC, PEER_MAC, packet);
}

/** A stack at STACK_IP that already knows the peer's MAC (from an ARP request it answered). */
function echoingStack(): { stack: Stack; sink: CountingSink } {
  const sink = new CountingSink();
  const stack = new Stack({
    link: sink,
    mac: parseMac(STACK_MAC),
    ipv4: { address: parseIpv4(STACK_IP), prefixLength: 24, gateway: 0 },
    random: new SeededRandom(1),
  });
  const arp = new Uint8Array(14 + 28);
  emitEthernet(arp, parseMac("ff:ff:ff:ff:ff:ff"), parseMac(PEER_MAC), EtherType.ARP);
  emitArp(arp.subarray(14), {
    operation: 1,
    senderMac: parseMac(PEER_MAC),
    senderIp: parseIpv4(PEER_IP),
    targetMac: new Uint8Array(6),
    targetIp: parseIpv4(STACK_IP),
  });
  stack.input(arp, NOW_MS);
  return { stack, sink };
}

/** Feeds `frame` once and throws unless exactly one echo reply came out. */
function assertEchoes(stack: Stack, sink: CountingSink, frame: Uint8Array): void {
  const before = sink.frames;
  stack.input(frame, NOW_MS);
  const icmpType = sink.buffer[14 + 20];
  if (sink.frames !== before + 1 || icmpType !== IcmpType.ECHO_REPLY) {
    throw new Error("micro_bench setup: the stack did not answer the echo request");
  }
}

const small = echoRequestFrame(56);
const large = echoRequestFrame(1472);
const { stack, sink } = echoingStack();
assertEchoes(stack, sink, small);
assertEchoes(stack, sink, large);

const CHECKSUM_1500 = pattern(1500, 7);
const CHECKSUM_64K = pattern(65_536, 9);

Deno.bench("internetChecksum 1500 B", { group: "checksum", baseline: true }, () => {
  internetChecksum(CHECKSUM_1500);
});

Deno.bench("internetChecksum 64 KiB", { group: "checksum" }, () => {
  internetChecksum(CHECKSUM_64K);
});

Deno.bench("Stack.input echo request 56 B -> reply", { group: "stack", baseline: true }, () => {
  stack.input(small, NOW_MS);
});

Deno.bench("Stack.input echo request 1472 B -> reply", { group: "stack" }, () => {
  stack.input(large, NOW_MS);
});

const ipPacket = small.subarray(14);
Deno.bench("Ipv4Packet.check", { group: "ipv4" }, () => {
  if (typeof Ipv4Packet.check(ipPacket) === "string") throw new Error("bad packet");
});

const ring = new FrameRing({ slotCount: 256, slotBytes: 2048 });
let checksumOfHeads = 0;
Deno.bench("FrameRing reserve/push/peek/shift", { group: "ring", baseline: true }, () => {
  const slot = ring.reserve()!;
  slot[0] = 0x45;
  ring.push(1514);
  checksumOfHeads += ring.peek()![0]!;
  ring.shift();
});

Deno.bench("FrameRing pushCopy 1514 B/peek/shift", { group: "ring" }, () => {
  ring.pushCopy(large);
  checksumOfHeads += ring.peek()![0]!;
  ring.shift();
});
