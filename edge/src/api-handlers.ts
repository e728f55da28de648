import type { ApiAnswer, ApiNamesOf, ApiRequest, HandlerObject } from "../../shared/api/catalog.js";
import type { ApiResult } from "../../shared/api/errors.js";

/**
 * What a Durable Object class must implement for its share of the catalog: one method per API
 * name, taking the validated request and answering an `ApiResult` (errors as values: RPC
 * carries plain data reliably, thrown errors lose their fields).
 */
export type ApiHandlers<O extends HandlerObject> = {
  [N in ApiNamesOf<O>]: (request: ApiRequest<N>) => Promise<ApiResult<ApiAnswer<N>>>;
};
