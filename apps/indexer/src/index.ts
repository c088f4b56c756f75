// Public surface of the indexer app: start a standalone KV indexer, and its command for the CLI.

export { indexerCommand } from "./command.js";
export { indexerFlags } from "./flags.js";
export {
  defaultSnapshotKey,
  type Indexer,
  type IndexerConfig,
  start,
  type ZmqPublisherConfig,
} from "./indexer.js";
