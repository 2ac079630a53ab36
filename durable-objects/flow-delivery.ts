import { instanceKey } from "../src/modules/registrar/index.ts";
import type { LocationService } from "../src/modules/registrar/script.ts";
import { flowShard } from "../src/transport/flow.ts";
import type { Connections } from "./connections.ts";
import { isShard, shardOf } from "./shards.ts";

/**
 * How a shard reaches a client's flow wherever its socket is: in this shard, or one RPC away in
 * another (a flow token names its shard). When the socket has closed, the flow of the same client
 * instance registered since (a reconnect, RFC 5626 §4.2) is found from the AOR's bindings.
 */
export class FlowDelivery {
  constructor(
    private readonly shard: string,
    private readonly shards: number,
    private readonly ns: DurableObjectNamespace,
    private readonly connections: Connections,
    private readonly location: Pick<LocationService, "lookup">,
  ) {}

  /** Sends on a flow; false when its socket is gone (or the token names no shard of this edge). */
  async send(flow: string, text: string | Uint8Array): Promise<boolean> {
    const shard = flowShard(flow);
    if (!isShard(shard, this.shards)) return false;
    if (shard === this.shard) return this.sendHere(flow, text);
    return shardOf(this.ns, shard)
      .deliver(flow, text)
      .catch(() => false);
  }

  /** Sends on a flow of this shard (the `deliver` RPC of the others lands here). */
  sendHere(flow: string, text: string | Uint8Array): boolean {
    const ws = flowShard(flow) === this.shard ? this.connections.socket(flow) : undefined;
    ws?.send(text);
    return ws !== undefined;
  }

  /** The live flow of the client instance behind a closed flow, from the AOR's bindings. */
  async successor(flow: string, of: { aor: string; instance: string }): Promise<string | undefined> {
    const found = await this.location.lookup(of.aor);
    if (!found.found) return undefined;
    for (const contact of found.contacts.flatMap((c) => [c, ...(c.alternates ?? [])])) {
      if (contact.instance === undefined || contact.flowToken === undefined || contact.flowToken === flow) continue;
      if (instanceKey(contact.instance, contact.regId) === of.instance) return contact.flowToken;
    }
    return undefined;
  }

  /** The flows of this shard among `flows` whose sockets are open. */
  liveHere(flows: string[]): string[] {
    return flows.filter((flow) => flowShard(flow) === this.shard && this.connections.socket(flow) !== undefined);
  }

  /** The flows with an open socket, asking each other shard that holds some once (an unreachable one counts as live). */
  async live(flows: string[]): Promise<Set<string>> {
    const byShard = new Map<string, string[]>();
    for (const flow of flows) {
      const shard = flowShard(flow);
      if (isShard(shard, this.shards)) byShard.set(shard, [...(byShard.get(shard) ?? []), flow]);
    }
    const live = new Set<string>();
    await Promise.all(
      [...byShard].map(async ([shard, list]) => {
        const open = shard === this.shard ? this.liveHere(list) : await shardOf(this.ns, shard).liveFlows(list).catch(() => list);
        for (const flow of open) live.add(flow);
      }),
    );
    return live;
  }
}
