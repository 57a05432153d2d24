/**
 * Ping round-trip time: `ping -i 0.002` (one request every 2 ms, well below the saturation rate)
 * from the namespace's kernel, per-reply times read from ping's output; average, median and 99th
 * percentile, appliance on its TAP vs kernel to kernel over veth.
 * @module
 */

import { type Benchmark, type Figure, figure, mean, onBoth, percentile } from "./_figure.ts";
import { parseReplyTimes, runPing } from "./_ping.ts";

export const pingRtt: Benchmark = {
  name: "ping_rtt",
  description: "ICMP echo RTT, 56-byte payload, one request per 2 ms (ping -i 0.002)",
  async run(ctx): Promise<Figure[]> {
    const count = ctx.quick ? 200 : 1000;
    const { appliance, kernel } = await onBoth(ctx, async (target) => {
      ctx.log(`ping -c ${count} -i 0.002 -> ${target.label}`);
      const outcome = await runPing(target, {
        count,
        intervalSeconds: 0.002,
        deadlineSeconds: 20,
      });
      const times = parseReplyTimes(outcome.stdout);
      if (times.length === 0) throw new Error(`No replies from ${target.label}`);
      return { times, loss: outcome.summary.lossPercent };
    });
    const stat = (f: (t: number[]) => number) => ({
      appliance: f(appliance.times),
      baseline: f(kernel.times),
    });
    const note = `${count} requests; replies ${appliance.times.length} / ${kernel.times.length}`;
    return [
      figure("rtt_avg", "ms", "lower", stat(mean), { note }),
      figure("rtt_p50", "ms", "lower", stat((t) => percentile(t, 50))),
      figure("rtt_p99", "ms", "lower", stat((t) => percentile(t, 99))),
      figure("loss", "%", "lower", { appliance: appliance.loss, baseline: kernel.loss }),
    ];
  },
};
