// The shipped edge (wrangler.toml `main`): the Worker and its Durable Objects, with the shipped
// route scripts (src/routes/index.ts); ROUTE_SCRIPT picks one.
import { createEdge } from "./edge.ts";

const edge = createEdge();

export default edge.worker;
export const { SipConnection, Location, Dispatcher, Guard, GuardDirectory, UacRegistration, CallRate } = edge;
