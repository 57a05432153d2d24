/**
 * The virtio-net header codec (tap/vnet.ts) against hand-written bytes in the kernel's layout
 * (linux/virtio_net.h, little-endian), the MIP_NO_OFFLOAD switch, and PcapLink passing
 * offloads through untouched. Real TAP offloads: tests/interop/offload_bulk_test.ts.
 */

import { assertEquals } from "@std/assert";
import { VirtualClock } from "../../stack/clock.ts";
import { MemoryLink, newRxMeta, type RxMeta, type TxOffload } from "../../stack/link.ts";
import { PcapLink, PcapWriter, type SyncWriter } from "../../tap/pcap.ts";
import {
  readVnetHeader,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  VNET_HDR_BYTES,
  writeVnetHeader,
} from "../../tap/vnet.ts";

Deno.test("vnet: ioctl numbers and flags are linux/if_tun.h's", () => {
  // _IOW('T', nr, int): dir 1 << 30 | size 4 << 16 | 'T' << 8 | nr
  const iow = (nr: number) => ((1 << 30) | (4 << 16) | (0x54 << 8) | nr) >>> 0;
  assertEquals(TUNSETOFFLOAD, iow(208));
  assertEquals(TUNSETVNETHDRSZ, iow(216));
  assertEquals([TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6], [1, 2, 4]);
  assertEquals(VNET_HDR_BYTES, 12);
});

Deno.test("vnet: a received GSO TCPv4 header with NEEDS_CSUM reads as a partial super-frame", () => {
  // flags NEEDS_CSUM, gso TCPV4|ECN, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16
  const slot = Uint8Array.of(0x01, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0, 0xff);
  const meta = newRxMeta();
  readVnetHeader(slot, meta);
  assertEquals(meta, { checksum: "partial", csumStart: 34, csumOffset: 16, gsoSize: 1448 });
  // DATA_VALID without GSO: verified, not coalesced (gso_size is ignored without a gso_type).
  readVnetHeader(Uint8Array.of(0x02, 0, 0, 0, 0xa8, 0x05, 0, 0, 0, 0, 0, 0), meta);
  assertEquals(meta, { checksum: "verified", csumStart: 0, csumOffset: 0, gsoSize: 0 });
  readVnetHeader(new Uint8Array(12), meta);
  assertEquals(meta.checksum, "unknown");
});

Deno.test("vnet: headers we write for plain, partial and TSO frames", () => {
  const slot = new Uint8Array(12).fill(0xee);
  writeVnetHeader(slot, undefined);
  assertEquals(slot, new Uint8Array(12));
  const partial: TxOffload = { csumStart: 34, csumOffset: 16, gsoSize: 0, headerBytes: 66 };
  writeVnetHeader(slot, partial);
  assertEquals(slot, Uint8Array.of(1, 0, 66, 0, 0, 0, 34, 0, 16, 0, 0, 0));
  writeVnetHeader(slot, { ...partial, gsoSize: 1448 });
  assertEquals(slot, Uint8Array.of(1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0));
});

Deno.test("MIP_NO_OFFLOAD=1 turns offloads off (read in a subprocess with its own env)", async () => {
  const vnet = new URL("../../tap/vnet.ts", import.meta.url).href;
  const code =
    `import { offloadDisabledByEnv } from "${vnet}"; console.log(offloadDisabledByEnv());`;
  const results: string[] = [];
  for (const value of ["1", "0", ""]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", code],
      env: { MIP_NO_OFFLOAD: value },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    results.push(new TextDecoder().decode(out.stdout).trim());
  }
  assertEquals(results, ["true", "false", "false"]);
});

class Sink implements SyncWriter {
  bytes = 0;
  writeSync(p: Uint8Array): number {
    this.bytes += p.length;
    return p.length;
  }
  close(): void {}
}

Deno.test("PcapLink passes capabilities, TX offloads and RX metadata through", () => {
  const clock = new VirtualClock();
  const [inner, peer] = MemoryLink.pair({ clock, offload: "gso" });
  using writer = new PcapWriter(new Sink());
  const link = new PcapLink(inner, writer, { clock, wallClockOriginMs: 0 });
  assertEquals(link.capabilities, inner.capabilities);
  const frame = new Uint8Array(3000).fill(7);
  const offload: TxOffload = { csumStart: 34, csumOffset: 16, gsoSize: 1448, headerBytes: 54 };
  link.acquire(frame.length)!.set(frame);
  link.commit(frame.length, offload);
  const atPeer: (RxMeta | undefined)[] = [];
  peer.receive(0, (_f, meta) => atPeer.push(meta && { ...meta }));
  assertEquals(atPeer, [{ checksum: "partial", csumStart: 34, csumOffset: 16, gsoSize: 1448 }]);
  peer.acquire(frame.length)!.set(frame);
  peer.commit(frame.length, offload);
  const atLink: (RxMeta | undefined)[] = [];
  link.receive(0, (_f, meta) => atLink.push(meta && { ...meta }));
  assertEquals(atLink, atPeer);
  assertEquals(writer.frames, 2, "both recorded, as the stack built them");
});
