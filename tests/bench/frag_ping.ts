/**
 * Fragmented ping: `ping -s 8000` (8028-byte IP datagrams: six fragments each way), so every
 * echo exercises reassembly of the request and fragmentation of the reply. Average and 99th
 * percentile RTT from per-reply times.
 * @module
 */

import { type Benchmark, type Figure, figure, mean, onBoth, percentile } from "./_figure.ts";
import { parseReplyTimes, runPing } from "./_ping.ts";

/** ICMP payload bytes: 8000 + 8 + 20 = 8028-byte datagrams, fragmented at MTU 1500. */
const PAYLOAD_BYTES = 8000;

export const fragPing: Benchmark = {
  name: "frag_ping",
  description: `ping -s ${PAYLOAD_BYTES} -i 0.005: RTT of echoes fragmented both ways`,
  async run(ctx): Promise<Figure[]> {
    const count = ctx.quick ? 50 : 300;
    const { appliance, kernel } = await onBoth(ctx, async (target) => {
      ctx.log(`ping -s ${PAYLOAD_BYTES} -c ${count} -i 0.005 -> ${target.label}`);
      const outcome = await runPing(target, {
        count,
        size: PAYLOAD_BYTES,
        intervalSeconds: 0.005,
        deadlineSeconds: 20,
      });
      const times = parseReplyTimes(outcome.stdout);
      if (times.length === 0) throw new Error(`No replies from ${target.label}`);
      return { times, loss: outcome.summary.lossPercent };
    });
    return [
      figure("rtt_avg", "ms", "lower", {
        appliance: mean(appliance.times),
        baseline: mean(kernel.times),
      }, { note: `${count} requests of ${PAYLOAD_BYTES} bytes` }),
      figure("rtt_p99", "ms", "lower", {
        appliance: percentile(appliance.times, 99),
        baseline: percentile(kernel.times, 99),
      }),
      figure("loss", "%", "lower", { appliance: appliance.loss, baseline: kernel.loss }),
    ];
  },
};
