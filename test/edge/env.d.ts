// `env` in tests (cloudflare:test / cloudflare:workers) has the Worker's bindings.
type EdgeEnv = import("../../edge/src/env.js").Env;
declare namespace Cloudflare {
  interface Env extends EdgeEnv {}
}
