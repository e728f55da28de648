// `npm run devtools:build`: bundles the devtools page (Preact + the real sora-js-sdk) with esbuild
// into devtools/dist/devtools/, which wrangler.toml serves as Workers static assets at /devtools/.
// Everything the page needs is in the bundle: no CDN, works offline.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
// The assets directory is devtools/dist; the extra `devtools/` level makes the URL /devtools/.
const out = path.join(here, "dist", "devtools");

rmSync(path.join(here, "dist"), { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(here, "src", "main.tsx")],
  outfile: path.join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) copyFileSync(path.join(here, "src", file), path.join(out, file));
console.log(`devtools built: ${path.relative(process.cwd(), out)}/`);
