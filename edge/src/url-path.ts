// The path of a request URL, for the router's exact-path routes.

/**
 * `new URL(url).pathname` without parsing the URL a second time (the router parsed it already;
 * a parse is a measurable share of an API call's Worker CPU). `request.url` is a serialized
 * absolute URL (scheme://authority/path?query#fragment, `/`, `?` and `#` percent-encoded where
 * they are data), so the path is what lies between the authority and the query or fragment.
 */
export function pathnameOf(url: string): string {
  const authority = url.indexOf("//");
  const start = authority < 0 ? -1 : url.indexOf("/", authority + 2);
  if (start < 0) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const fragment = url.indexOf("#", start);
  if (fragment >= 0 && fragment < end) end = fragment;
  return url.slice(start, end);
}
