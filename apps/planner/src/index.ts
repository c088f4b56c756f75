export { plannerCommand, plannerConfigFromFlags } from "./command.js";
export { LocalConnector } from "./connectors/local.js";
export { VirtualConnector } from "./connectors/virtual.js";
export {
  type EmbeddedPlannerConfig,
  embeddedPlannerFromFlags,
  servePlannerFlags,
  startEmbeddedPlanner,
} from "./embedded.js";
export { plannerFlags } from "./flags.js";
export { PerfModel } from "./perf-model.js";
export { loadPerfModel, type PlannerConfig, type PlannerService, start } from "./planner.js";
export { profileCommand } from "./profile/command.js";
