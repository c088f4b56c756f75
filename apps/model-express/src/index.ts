export { modelExpressCommand, modelExpressConfigFromFlags } from "./command.js";
export { modelExpressFlags } from "./flags.js";
export { MODEL_EXPRESS_COMPONENT, type ModelExpress, type ModelExpressConfig, start } from "./server.js";
