/**
 * Which entries of a JIT policy's `requests` history are one of our initiates: the tag (nonce, or
 * for records from before nonces the request id) and the VM, every port, the source and — where
 * the caller knows it — the end time. Pure; every place that reads the history asks this.
 */
import { carriesTag, type InitiateTag } from "./justification.ts";
import type { JitRequestRecord } from "./vm.ts";

export interface OwnInitiate {
  readonly tag: InitiateTag;
  readonly vmId: string;
  readonly ports: readonly number[];
  /** The source prefix asked for ("203.0.113.7" and "203.0.113.7/32" are the same). */
  readonly source: string;
  /** The end asked for, to the second; absent where it is not fixed (see the caller). */
  readonly endTimeUtc?: Date;
}

export function isOwnEntry(entry: JitRequestRecord, own: OwnInitiate): boolean {
  if (!carriesTag(entry.justification, own.tag)) return false;
  if (entry.vmId.toLowerCase() !== own.vmId.toLowerCase()) return false;
  return own.ports.every((number) =>
    entry.ports.some(
      (port) =>
        port.number === number &&
        samePrefix(port.allowedSourceAddressPrefix, own.source) &&
        (own.endTimeUtc === undefined ||
          Math.abs(port.endTimeUtc.getTime() - own.endTimeUtc.getTime()) < 1_000),
    ),
  );
}

/** "203.0.113.7" and "203.0.113.7/32" name the same source; Azure may echo either. */
export function samePrefix(a: string, b: string): boolean {
  const bare = (prefix: string) =>
    prefix
      .trim()
      .toLowerCase()
      .replace(/\/(32|128)$/, "");
  return bare(a) === bare(b);
}
