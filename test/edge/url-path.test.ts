import { describe, expect, it } from "vitest";
import { pathnameOf } from "../../edge/src/url-path.js";

// pathnameOf slices the path out of a serialized request URL instead of parsing it again; it
// must say what `new URL(url).pathname` says for every URL a Request can carry.
describe("pathnameOf", () => {
  const inputs = [
    "http://127.0.0.1:8787/",
    "http://127.0.0.1:8787",
    "https://edge.example/health",
    "https://edge.example/health/",
    "https://edge.example//health",
    "https://edge.example/?x=/y",
    "https://edge.example/a/b?x=1#f",
    "https://edge.example/a#f?x",
    "https://edge.example/a/../b/./c",
    "https://edge.example/a%2Fb%3F?q",
    "https://user:p%40ss@edge.example:8443/internal/call-counts?z#/y",
    "http://[::1]:3000/node?node_name=a/b",
    "https://edge.example/ümlaut path",
    "https://edge.example/devtools/x.js",
  ];
  for (const input of inputs) {
    it(input, () => {
      // As workerd hands it to the Worker: the Request's serialized URL.
      const url = new Request(input).url;
      expect(pathnameOf(url)).toBe(new URL(url).pathname);
    });
  }
});
