/**
 * Echo payload throughput: `ping -f -l 16 -s 1472`, MTU-sized echoes (1500-byte IP packets) with
 * 16 requests kept in flight, so the rate is bounded by how fast the responder turns frames
 * around rather than by the round trip. Reported as MB/s of ICMP payload carried both ways
 * (requests + replies) and as replies/s. This stands in for a UDP ingest rate until the
 * appliance exposes its counters: it measures receive, checksum, reply-build and transmit of
 * 1514-byte frames.
 * @module
 */

import { type Benchmark, type Figure, figure, onBoth } from "./_figure.ts";
import { repliesPerSecond, runPing } from "./_ping.ts";

/** ICMP payload bytes per echo: 1472 + 8 ICMP + 20 IP = 1500, the Ethernet MTU. */
const PAYLOAD_BYTES = 1472;
/** Requests kept in flight (`ping -l`). */
const PRELOAD = 16;

export const echoPayload: Benchmark = {
  name: "echo_payload",
  description: `ping -f -l ${PRELOAD} -s ${PAYLOAD_BYTES}: MTU-sized echo throughput`,
  async run(ctx): Promise<Figure[]> {
    const count = ctx.quick ? 20_000 : 100_000;
    const deadlineSeconds = ctx.quick ? 5 : 20;
    const { appliance, kernel } = await onBoth(ctx, async (target) => {
      ctx.log(`ping -f -l ${PRELOAD} -s ${PAYLOAD_BYTES} -c ${count} -> ${target.label}`);
      const { summary } = await runPing(target, {
        count,
        flood: true,
        preload: PRELOAD,
        size: PAYLOAD_BYTES,
        quiet: true,
        deadlineSeconds,
      });
      return summary;
    });
    const megabytesPerSecond = (replies: number) => (replies * PAYLOAD_BYTES * 2) / 1e6;
    return [
      figure("payload_mb_per_s", "MB/s", "higher", {
        appliance: megabytesPerSecond(repliesPerSecond(appliance)),
        baseline: megabytesPerSecond(repliesPerSecond(kernel)),
      }, { note: "ICMP payload, requests + replies" }),
      figure("replies_per_s", "replies/s", "higher", {
        appliance: repliesPerSecond(appliance),
        baseline: repliesPerSecond(kernel),
      }),
      figure("loss", "%", "lower", {
        appliance: appliance.lossPercent,
        baseline: kernel.lossPercent,
      }, {
        note: `received/transmitted ${appliance.received}/${appliance.transmitted} vs ` +
          `${kernel.received}/${kernel.transmitted}`,
      }),
    ];
  },
};
