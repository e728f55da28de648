// Builds the optional native fast path (fastpath.c) with the system C compiler against Node's
// own headers (/usr/include/node, or <node prefix>/include/node): no download, no node-gyp.
// Run by `npm ci`/`npm install` (postinstall) and by hand: `node media-node/native/build.mjs`.
// Never fails the install: without a compiler or headers the node runs its TypeScript path.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { endianness } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "build", "fastpath.node");
const candidates = [join(dirname(dirname(process.execPath)), "include", "node"), "/usr/include/node", "/usr/local/include/node"];
// Node's own OpenSSL headers ship beside node_api.h in official builds; a distribution's Node
// linked to the system OpenSSL uses the system headers (libssl-dev) instead.
const include = candidates.find((d) => existsSync(join(d, "node_api.h")));
const sslInclude = include !== undefined && existsSync(join(include, "openssl", "evp.h")) ? include : existsSync("/usr/include/openssl/evp.h") ? "/usr/include" : undefined;
const skip =
  process.platform !== "linux" || endianness() !== "LE"
    ? "needs little-endian Linux: sendmmsg, sockaddr layout"
    : include === undefined
      ? `no node_api.h under ${candidates.join(", ")}`
      : sslInclude === undefined
        ? "no OpenSSL headers"
        : undefined;
if (skip !== undefined) {
  rmSync(out, { force: true });
  console.log(`native fast path: skipped (${skip}); the TypeScript path is used`);
} else {
  // Built next to the old one and renamed, and an old one removed when this build fails: a stale
  // binary must not outlive the source it was built from.
  const tmp = `${out}.tmp`;
  try {
    mkdirSync(dirname(out), { recursive: true });
    const cc = process.env.CC ?? "cc";
    execFileSync(cc, ["-O2", "-fPIC", "-shared", "-Wall", "-DNODE_GYP_MODULE_NAME=fastpath", `-I${include}`, ...(sslInclude !== include ? [`-I${sslInclude}`] : []), "-o", tmp, join(here, "fastpath.c")], { stdio: "inherit" });
    renameSync(tmp, out);
    console.log(`native fast path: built ${out}`);
  } catch (err) {
    rmSync(tmp, { force: true });
    rmSync(out, { force: true });
    console.log(`native fast path: build failed (${err instanceof Error ? err.message : String(err)}); the TypeScript path is used`);
  }
}
