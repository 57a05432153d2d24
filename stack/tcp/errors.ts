/**
 * The errors a connection fails with, as Deno's classes (constructing them is all stack/
 * does with Deno.*), with messages naming the peer.
 * @module
 */

import { formatIpv4 } from "../wire/address.ts";

/** The peer of a connection, for messages. */
export interface Peer {
  remoteAddr: number;
  remotePort: number;
}

function name(peer: Peer): string {
  return `${formatIpv4(peer.remoteAddr)}:${peer.remotePort}`;
}

/** The peer answered our SYN with a RST (or ICMP port unreachable). */
export function refusedError(peer: Peer): Error {
  return new Deno.errors.ConnectionRefused(
    `Connection refused by ${name(peer)}: nothing listens on that port`,
  );
}

/** The peer reset an open connection. */
export function resetError(peer: Peer): Error {
  return new Deno.errors.ConnectionReset(`Connection reset by ${name(peer)}`);
}

/** Retransmissions or probes went unanswered. */
export function timedOutError(peer: Peer, why: string): Error {
  return new Deno.errors.TimedOut(`Connection to ${name(peer)} timed out: ${why}`);
}
