// `env` in tests (cloudflare:test / cloudflare:workers) has the Worker's bindings.
declare namespace Cloudflare {
  interface Env extends import("../../edge/src/env.js").Env {}
}
