/**
 * `GET {edge}/bridge/shards` with the bridge's bearer secret answers `{"shards": N}`: the number
 * of SipConnection shard objects, each of which wants its own link (bridge/README.md).
 */
import { fail, ok, type Parsed } from "../src/sip/result.ts";

/** Upper bound on a sane shard count (a typo must not make the bridge dial a million links). */
const MAX_SHARDS = 4096;

export async function fetchShardCount(edgeHttp: string, secret: string, timeoutMs = 5_000): Promise<Parsed<number>> {
  let response: Response;
  try {
    response = await fetch(edgeHttp + "/bridge/shards", {
      headers: { Authorization: "Bearer " + secret },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return fail(cause?.code ?? cause?.message ?? (error as Error).message);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    return fail(`refused with HTTP ${response.status}: check --secret / SIPEDGE_BRIDGE_SECRET`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    return fail(`HTTP ${response.status}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return fail("response is not JSON");
  }
  const shards = (body as { shards?: unknown } | null)?.shards;
  if (typeof shards !== "number" || !Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    return fail(`expected {"shards": 1..${MAX_SHARDS}}, got ${JSON.stringify(body)}`);
  }
  return ok(shards);
}
