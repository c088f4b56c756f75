// Public surface of the router app: start a standalone KV router, and its command for the CLI.
export { routerCommand } from "./command.js";
export { type RouterConfig, routerConfigFromFlags, routerFlags } from "./config.js";
export { ROUTER_COMPONENT, ROUTER_ENDPOINT, type Router, start } from "./router.js";
