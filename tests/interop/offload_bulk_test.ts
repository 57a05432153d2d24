/**
 * TAP offloads against the Linux kernel: our stack (tests/bench/fixtures/tcp_bulk_peer.ts:
 * TapDevice + Stack + Pump + NetApi) moves bulk TCP each way to and from python3 sockets, first
 * with the vnet header and offloads, then with `--no-offload` on the same persistent TAP.
 * Checked: every byte (SHA-256 at both ends), that super-frames really crossed (or did not),
 * the TAP's flags and ethtool features in each mode (a persistent TAP keeps a reader's offload
 * settings, so plain mode must clear them), and no checksum drops.
 *
 * The offload leg asks for offloads whatever MIP_NO_OFFLOAD says, so both CI legs test both.
 */

import { assert, assertEquals } from "@std/assert";
import { interopTest, type Namespace, withNamespace } from "../helpers/netns.ts";
import { type Direction, measureTap, type TapResult } from "../bench/tcp_bulk.ts";

const BYTES = 48_000_000;
const SECONDS = 30;
const IFF_VNET_HDR = 0x4000;

/** tun_flags and the TSO / checksum features ethtool reports for tap0. */
async function tapState(ns: Namespace): Promise<{ vnet: boolean; tso: string; csum: string }> {
  const flags = await ns.exec(["cat", "/sys/class/net/tap0/tun_flags"]);
  const features = await ns.exec(["ethtool", "-k", "tap0"], { check: false });
  const feature = (name: string) =>
    new RegExp(`^\\s*${name}: (on|off)`, "m").exec(features.stdout)?.[1] ?? "unknown";
  return {
    vnet: (Number.parseInt(flags.stdout.trim(), 16) & IFF_VNET_HDR) !== 0,
    tso: feature("tcp-segmentation-offload"),
    csum: feature("tx-checksumming"),
  };
}

/** One direction in one mode; checks the bytes and returns the run with the TAP's state. */
async function transfer(ns: Namespace, direction: Direction, offload: boolean) {
  let state = { vnet: false, tso: "unknown", csum: "unknown" };
  const result: TapResult = await measureTap(ns, {
    direction,
    offload,
    bytes: BYTES,
    seconds: SECONDS,
    hash: true,
    onReady: async () => {
      state = await tapState(ns);
    },
  });
  const label = `${direction}, offload ${offload ? "on" : "off"}`;
  assertEquals(result.bytes, BYTES, `${label}: every byte arrived`);
  assertEquals(result.peer.sha256, result.kernel.sha256, `${label}: same bytes both ends`);
  assertEquals(result.peer.offload, offload, `${label}: the device mode`);
  const tcp = result.peer.tcp as { drops: Record<string, number> };
  assertEquals(tcp.drops["bad-checksum"], undefined, `${label}: no checksum drops`);
  console.log(
    `${label}: ${(result.bytes * 8 / result.seconds / 1e9).toFixed(2)} Gb/s, device ` +
      JSON.stringify(result.peer.device),
  );
  return { result, state, device: result.peer.device as Record<string, number> };
}

interopTest(
  "bulk TCP with TAP offloads, then plain frames on the same persistent TAP",
  async () => {
    await withNamespace(async (ns) => {
      await ns.addTap("tap0", "10.79.0.1/24");
      // Offloads on: the kernel hands us super-frames and takes ours.
      const rxOn = await transfer(ns, "rx", true);
      assertEquals(rxOn.state, { vnet: true, tso: "on", csum: "on" });
      assert(rxOn.device.rxSuperFrames! > 0, "the kernel sent coalesced super-frames");
      const txOn = await transfer(ns, "tx", true);
      assert(txOn.device.txSuperFrames! > 0, "we sent TSO super-frames");
      assert(txOn.device.txFrames! < BYTES / 1448 / 4, "far fewer frames than MSS-sized ones");
      // Plain: the same TAP, whose offload settings the previous reader left on, is cleared.
      const rxOff = await transfer(ns, "rx", false);
      assertEquals(rxOff.state, { vnet: false, tso: "off", csum: "off" });
      assertEquals(rxOff.device.rxSuperFrames, 0);
      assertEquals(rxOff.device.rxDropped, 0, "no frame longer than the MTU arrived");
      const txOff = await transfer(ns, "tx", false);
      assertEquals(txOff.device.txSuperFrames, 0);
      assert(txOff.device.txFrames! > BYTES / 1448, "MSS-sized frames");
    }, "offload-bulk");
  },
  { timeoutMs: 240_000 },
);
