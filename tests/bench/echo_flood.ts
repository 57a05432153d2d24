/**
 * ICMP echo flood rate: `ping -f` keeps one request in flight (the next goes out when the reply
 * arrives, or after 10 ms), so replies/s is bounded by the round trip: a latency-bound rate, not
 * a capacity. Bounded by a count and ping's `-w` deadline.
 * @module
 */

import { type Benchmark, type Figure, figure, onBoth } from "./_figure.ts";
import { repliesPerSecond, runPing } from "./_ping.ts";

export const echoFlood: Benchmark = {
  name: "echo_flood",
  description: "ping -f (one request in flight, 56-byte payload): replies/s and loss",
  async run(ctx): Promise<Figure[]> {
    const count = ctx.quick ? 5_000 : 20_000;
    const deadlineSeconds = ctx.quick ? 5 : 20;
    const { appliance, kernel } = await onBoth(ctx, async (target) => {
      ctx.log(`ping -f -c ${count} -w ${deadlineSeconds} -> ${target.label}`);
      const { summary } = await runPing(target, {
        count,
        flood: true,
        quiet: true,
        deadlineSeconds,
      });
      return summary;
    });
    return [
      figure("replies_per_s", "replies/s", "higher", {
        appliance: repliesPerSecond(appliance),
        baseline: repliesPerSecond(kernel),
      }, { note: `${appliance.received} / ${kernel.received} replies of ${count}` }),
      figure("loss", "%", "lower", {
        appliance: appliance.lossPercent,
        baseline: kernel.lossPercent,
      }),
    ];
  },
};
