/**
 * A shard's storage with its writes counted as the platform bills them (Durable Objects pricing:
 * key-value methods are billed as rows, one per key a `put` or `delete` names; each `setAlarm` is
 * one row written). Reads and everything else pass through unchanged. The count is what was asked
 * for, so a `delete` of a key that is not stored still counts one: an upper bound.
 */
export function meteredStorage(storage: DurableObjectStorage, count: (rows: number) => void): DurableObjectStorage {
  return new Proxy(storage, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === "put") {
        return (keyOrEntries: unknown, ...rest: unknown[]) => {
          count(typeof keyOrEntries === "string" ? 1 : Object.keys(keyOrEntries as object).length);
          return method.call(target, keyOrEntries, ...rest);
        };
      }
      if (property === "delete") {
        return (keys: unknown, ...rest: unknown[]) => {
          count(Array.isArray(keys) ? keys.length : 1);
          return method.call(target, keys, ...rest);
        };
      }
      if (property === "setAlarm") {
        return (...args: unknown[]) => {
          count(1);
          return method.apply(target, args);
        };
      }
      return method.bind(target);
    },
  });
}
