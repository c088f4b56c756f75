// Public surface of @kvasir/cli: the embedded all-in-one, for benchmarks that compose the whole system in process.
export { type ServeConfig, type Serving, serveCommand, start } from "./serve.js";
