// Public surface of the frontend app: its CLI command, its configuration, and start.

export { frontendCommand } from "./command.js";
export { type FrontendConfig, frontendConfigFromFlags, frontendFlags } from "./config.js";
export { type Frontend, start } from "./server.js";
