/**
 * The OS boundary: a TAP device as a `Link`, the pump that runs a stack on it, and pcap capture.
 * Nothing outside `tap/` calls `Deno.dlopen`; the library opens on first use, so importing this
 * module needs no permissions.
 * @module
 */

export { Errno, errnoName, TapError, type TapErrorOptions } from "./libc.ts";
export {
  checkInterfaceName,
  TapDevice,
  type TapDeviceOptions,
  type TapDeviceStats,
} from "./device.ts";
export {
  Pump,
  type PumpDevice,
  type PumpOptions,
  type PumpStack,
  type PumpStats,
  runLoop,
  type RunLoopOptions,
} from "./loop.ts";
export {
  PcapLink,
  type PcapLinkOptions,
  PcapWriter,
  type PcapWriterOptions,
  type SyncWriter,
} from "./pcap.ts";
