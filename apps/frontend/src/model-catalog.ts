import type { ServedModel } from "./model-registry.js";
import type { Preprocessor } from "./preprocessor.js";
import type { WorkerInstance } from "./route-request.js";

/** The models the app can serve; the discovery-backed ModelRegistry in production. */
export interface ModelCatalog {
  resolve(id: string): ServedModel<Preprocessor> | undefined;
  list(): ServedModel<Preprocessor>[];
  workersOf(name: string): readonly WorkerInstance[];
}
