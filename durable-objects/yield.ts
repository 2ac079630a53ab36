/**
 * Resolves after the events already queued for the object (client messages, link frames) have
 * run: a zero-delay timer, which workerd runs after them. A long pass over a shard's sockets
 * awaits it between slices so that it never holds the shard's clients for the whole pass.
 */
export function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
