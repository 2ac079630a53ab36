import type { Env as EdgeEnv } from "../../src/env.ts";

declare global {
  namespace Cloudflare {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface Env extends EdgeEnv {}
    interface GlobalProps {
      mainModule: typeof import("../../src/index.ts");
      durableNamespaces: "SipConnection";
    }
  }
}
