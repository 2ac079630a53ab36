import type { RequestContext } from "../../routing/context.ts";
import type { SentBy, Target } from "../tm/types.ts";
import type { DispatcherClient } from "./client.ts";
import { ALG, FROM_LIST_IGNORE_PROTO, currentDst, isFromList, isUsable, nextDst, select, type Destination, type Selection } from "./index.ts";

/**
 * The `ctx.dispatcher` namespace: Kamailio's dispatcher over the request at hand. `selectDst`
 * picks from the shard's snapshot; `target()` is the branch for tm (the Request-URI stays, the
 * destination is the next hop, reached through the bridge); `nextDst` walks the failover list.
 */
export class DispatcherScript {
  private selection: Selection | undefined;

  constructor(
    private readonly ctx: RequestContext,
    private readonly client: DispatcherClient,
    private readonly bridgeVia: () => (SentBy & { bridge?: string }) | undefined,
  ) {}

  /**
   * Kamailio `ds_select_dst(set, alg)`: false when the set has no usable destination. The choice
   * becomes `$du` (`ctx.du`). With `forceDst: false` (OpenSIPS' `force_dst` 0, its default) a
   * `$du` already set (by `loose_route`, or by the script) is kept and nothing is selected: false.
   */
  async selectDst(setId: number, alg: number, options: { useDefault?: boolean; forceDst?: boolean } = {}): Promise<boolean> {
    if (options.forceDst === false && this.ctx.du !== undefined) return false;
    const msg = this.ctx.msg;
    const credentials = msg.headers.get("Proxy-Authorization") ?? msg.headers.get("Authorization");
    const input = {
      method: msg.method,
      callId: msg.callId,
      fromUri: msg.headers.get("From") ?? "",
      toUri: msg.headers.get("To") ?? "",
      ruri: msg.uri,
      authUsername: credentials ? /username="([^"]*)"/.exec(credentials)?.[1] : undefined,
    };
    if (alg === ALG.CALL_LOAD && msg.method === "INVITE") {
      this.selection = await this.client.selectByLoad(setId, input, options.useDefault === true);
    } else {
      const how = { useDefault: options.useDefault, failover: true };
      this.selection = select((await this.client.list()).sets.get(setId), alg, input, this.client.state, how);
      // Nothing usable in the copy: a copy a moment old may not know a gateway came back.
      const fresher = this.selection.selected ? undefined : await this.client.recheck();
      if (fresher !== undefined) this.selection = select(fresher.sets.get(setId), alg, input, this.client.state, how);
    }
    if (this.selection.selected) this.ctx.du = this.target();
    return this.selection.selected;
  }

  /** The destination in use (Kamailio `$du`). */
  current(): Destination | undefined {
    return this.selection ? currentDst(this.selection) : undefined;
  }

  /** The branch to relay to: Request-URI unchanged, the destination as next hop, via the bridge. */
  target(): Target | undefined {
    const dst = this.current();
    if (!dst) return undefined;
    const t: Target = { uri: this.ctx.msg.uri, dst: `${dst.host}:${dst.port}` };
    const via = this.bridgeVia();
    if (via) {
      t.via = { transport: via.transport, host: via.host, ...(via.port === undefined ? {} : { port: via.port }) };
      if (via.bridge !== undefined) t.bridge = via.bridge;
    }
    return t;
  }

  /**
   * Kamailio `ds_next_dst()`: moves to the next destination of the failover list, skipping those
   * that probing has marked unusable since the selection was made.
   */
  async nextDst(): Promise<boolean> {
    if (this.selection === undefined || !this.selection.selected) return false;
    const list = await this.client.list();
    const set = list.sets.get(this.selection.setId);
    const now = new Map(set?.destinations.map((d) => [d.uri, d]) ?? []);
    const next = nextDst(this.selection, this.client.state, (d) => {
      const current = now.get(d.uri);
      return current === undefined || isUsable(current);
    });
    if (next && this.selection.selected && this.selection.loadCallId !== undefined) {
      this.client.loadEvent(this.selection.loadCallId, "move", next.attrs.duid ?? next.uri);
    }
    if (next !== undefined) this.ctx.du = this.target();
    return next !== undefined;
  }

  /** Kamailio `ds_load_update()` for a 2xx to the INVITE or a BYE, `ds_load_unset()` for a failure. */
  loadUpdate(event: "confirm" | "release", callId = this.ctx.msg.callId): void {
    this.client.loadEvent(callId, event);
  }

  /** Kamailio `ds_mark_dst(state)` on the destination in use ("i" inactive, "t" trying, "p" probing). */
  async markDst(state = "ip"): Promise<boolean> {
    const dst = this.current();
    if (!dst || !this.selection?.selected) return false;
    return this.client.markDst(this.selection.setId, dst.uri, state);
  }

  /** Whether `host:port` is a destination of any set (where in-dialog requests may be sent). */
  async isDestination(host: string, port: number): Promise<boolean> {
    const list = await this.client.list();
    return isFromList(list, { host, port, transport: "udp" }, -1, FROM_LIST_IGNORE_PROTO).found;
  }

  /** Kamailio `ds_is_from_list(set)`: the request's source address is a destination of the set. */
  async isFromList(setId = -1): Promise<boolean> {
    const { ip, port, transport } = this.ctx.source;
    if (port === undefined) return false;
    const list = await this.client.list();
    return isFromList(list, { host: ip, port, transport }, setId, FROM_LIST_IGNORE_PROTO).found;
  }
}
