/**
 * The composition engine of route scripts, modelled on hono's `compose`: each route receives the
 * context and `next`; a route that answers (or drops) simply does not call `next`, which is the
 * `exit` of a Kamailio script.
 */
export type Next = () => Promise<void>;
export type Route<C> = (ctx: C, next: Next) => void | Promise<void>;

export function compose<C>(routes: readonly Route<C>[]): (ctx: C) => Promise<void> {
  return (ctx) => {
    let last = -1;
    const dispatch = async (i: number): Promise<void> => {
      if (i <= last) throw new Error("next() called more than once in a route");
      last = i;
      const route = routes[i];
      if (!route) return;
      await route(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}
