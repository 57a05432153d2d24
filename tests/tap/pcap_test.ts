/**
 * PcapWriter byte layout (pcap-savefile(5)), buffering, tcpdump interop, and PcapLink recording
 * both directions of a MemoryLink under a VirtualClock.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { VirtualClock } from "../../stack/clock.ts";
import { MemoryLink } from "../../stack/link.ts";
import { PcapLink, PcapWriter, type SyncWriter } from "../../tap/pcap.ts";

/** ARP request "who-has 10.0.0.2 tell 10.0.0.1" from 02:00:00:00:00:01 (RFC 826 layout). */
const ARP_REQUEST = new Uint8Array([
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0x02,
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  0x08,
  0x06, // Ethernet
  0x00,
  0x01,
  0x08,
  0x00,
  0x06,
  0x04,
  0x00,
  0x01, // htype 1, ptype IPv4, hlen 6, plen 4, request
  0x02,
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  0x0a,
  0x00,
  0x00,
  0x01, // sender MAC, 10.0.0.1
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x0a,
  0x00,
  0x00,
  0x02, // target MAC, 10.0.0.2
]);

/** A SyncWriter into memory that accepts at most `chunk` bytes per call. */
class MemoryFile implements SyncWriter {
  bytes = new Uint8Array(0);
  writes = 0;
  closed = false;
  constructor(readonly chunk = Infinity) {}

  writeSync(p: Uint8Array): number {
    const n = Math.min(p.length, this.chunk);
    const grown = new Uint8Array(this.bytes.length + n);
    grown.set(this.bytes);
    grown.set(p.subarray(0, n), this.bytes.length);
    this.bytes = grown;
    this.writes++;
    return n;
  }

  close(): void {
    this.closed = true;
  }
}

interface Record {
  seconds: number;
  micros: number;
  originalLength: number;
  data: Uint8Array;
}

/** An independent reader of little-endian pcap files. */
function readPcap(bytes: Uint8Array): { snapLength: number; records: Record[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const records: Record[] = [];
  for (let at = 24; at < bytes.length;) {
    const included = view.getUint32(at + 8, true);
    records.push({
      seconds: view.getUint32(at, true),
      micros: view.getUint32(at + 4, true),
      originalLength: view.getUint32(at + 12, true),
      data: bytes.slice(at + 16, at + 16 + included),
    });
    at += 16 + included;
  }
  return { snapLength: view.getUint32(16, true), records };
}

Deno.test("PcapWriter writes the pcap-savefile(5) global and record headers", () => {
  const file = new MemoryFile();
  const writer = new PcapWriter(file);
  writer.write(ARP_REQUEST, 1_700_000_000_123.456);
  writer.close();
  assertEquals(file.closed, true);
  assertEquals(Array.from(file.bytes.subarray(0, 24)), [
    0xd4,
    0xc3,
    0xb2,
    0xa1, // magic 0xa1b2c3d4, little-endian: microsecond timestamps
    0x02,
    0x00,
    0x04,
    0x00, // version 2.4
    0x00,
    0x00,
    0x00,
    0x00, // thiszone
    0x00,
    0x00,
    0x00,
    0x00, // sigfigs
    0x00,
    0x00,
    0x04,
    0x00, // snaplen 262144
    0x01,
    0x00,
    0x00,
    0x00, // LINKTYPE_ETHERNET
  ]);
  assertEquals(Array.from(file.bytes.subarray(24, 40)), [
    0x00,
    0xf1,
    0x53,
    0x65, // ts_sec 1700000000
    0x40,
    0xe2,
    0x01,
    0x00, // ts_usec 123456
    42,
    0,
    0,
    0, // incl_len
    42,
    0,
    0,
    0, // orig_len
  ]);
  assertEquals(file.bytes.subarray(40), ARP_REQUEST);
  assertEquals(writer.frames, 1);
});

Deno.test("PcapWriter truncates at snapLength and survives tiny buffers and short writes", () => {
  const file = new MemoryFile(7);
  const writer = new PcapWriter(file, { snapLength: 100, bufferBytes: 64 });
  const big = new Uint8Array(300).map((_, i) => i & 0xff);
  writer.write(ARP_REQUEST, 1000);
  writer.write(big, 2000.5);
  writer.write(ARP_REQUEST.subarray(0, 20), 3000);
  writer.close();
  const { snapLength, records } = readPcap(file.bytes);
  assertEquals(snapLength, 100);
  assertEquals(records.map((r) => [r.seconds, r.micros, r.originalLength, r.data.length]), [
    [1, 0, 42, 42],
    [2, 500, 300, 100],
    [3, 0, 20, 20],
  ]);
  assertEquals(records[1]!.data, big.subarray(0, 100));
  assertEquals(records[2]!.data, ARP_REQUEST.subarray(0, 20));
});

Deno.test("tcpdump reads a file PcapWriter.create made", async () => {
  const path = await Deno.makeTempFile({ prefix: "mip-pcap-", suffix: ".pcap" });
  try {
    const writer = PcapWriter.create(path);
    writer.write(ARP_REQUEST, 1_700_000_000_123.456);
    writer.write(ARP_REQUEST, 1_700_000_001_000);
    writer.close();
    const out = await new Deno.Command("tcpdump", {
      args: ["-r", path, "-nn", "-e", "-tt"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertStringIncludes(new TextDecoder().decode(out.stderr), "link-type EN10MB (Ethernet)");
    assertEquals(stdout.trim().split("\n"), [
      "1700000000.123456 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), " +
      "length 42: Request who-has 10.0.0.2 tell 10.0.0.1, length 28",
      "1700000001.000000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), " +
      "length 42: Request who-has 10.0.0.2 tell 10.0.0.1, length 28",
    ]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("PcapLink records frames out and in with clock-based timestamps", () => {
  const clock = new VirtualClock(5000);
  const [a, b] = MemoryLink.pair({ clock, mtu: 1400, bToA: { delayMs: 10 } });
  const file = new MemoryFile();
  const writer = new PcapWriter(file);
  const link = new PcapLink(a, writer, { clock, wallClockOriginMs: 1_700_000_000_000 });
  assertEquals(link.mtu, 1400);

  const out = link.acquire(ARP_REQUEST.length)!;
  out.set(ARP_REQUEST);
  link.commit(ARP_REQUEST.length);
  const atB: Uint8Array[] = [];
  b.receive(clock.now(), (frame) => atB.push(frame.slice()));
  assertEquals(atB, [ARP_REQUEST], "the frame went on to the wrapped link");

  const reply = ARP_REQUEST.slice();
  reply[21] = 2;
  clock.advance(250);
  b.acquire(reply.length)!.set(reply);
  b.commit(reply.length);
  assertEquals(link.nextDueMs(), 5260, "the wrapped link's delay shows through");
  clock.advanceTo(link.nextDueMs());
  const atA: Uint8Array[] = [];
  assertEquals(link.receive(clock.now(), (frame) => atA.push(frame.slice())), 1);
  assertEquals(atA, [reply]);
  writer.close();

  const { records } = readPcap(file.bytes);
  assertEquals(records.map((r) => [r.seconds, r.micros]), [[1_700_000_000, 0], [
    1_700_000_000,
    260_000,
  ]]);
  assertEquals(records.map((r) => r.data), [ARP_REQUEST, reply]);
});
