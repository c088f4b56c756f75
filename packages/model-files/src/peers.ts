// Where workers that hold a model register as its sources (discovery), and how a peer's file URL is spelled.
import { checkFilePath, repoFolderName } from "./model-ref.js";

/** What a peer registers: its file server and instance id. */
export interface PeerRecord {
  url: string;
  instance_id: string;
  model: string;
  revision: string;
  /** The files it holds whole; all of the model's when absent. */
  files?: string[];
}

export function peersPrefix(namespace: string): string {
  return `v1/model_express/${namespace}/peers/`;
}

export function peerKey(namespace: string, modelId: string, revision: string, instanceHex: string): string {
  return `${peersPrefix(namespace)}${repoFolderName(modelId)}/${revision}/${instanceHex}`;
}

/** The peers of one model revision among the entries under peersPrefix. */
export function peerPrefixOf(namespace: string, modelId: string, revision: string): string {
  return `${peersPrefix(namespace)}${repoFolderName(modelId)}/${revision}/`;
}

export function parsePeerRecord(value: unknown): PeerRecord | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.url !== "string" || typeof r.model !== "string" || typeof r.revision !== "string")
    return undefined;
  return {
    url: r.url,
    instance_id: typeof r.instance_id === "string" ? r.instance_id : "",
    model: r.model,
    revision: r.revision,
    ...(Array.isArray(r.files) ? { files: r.files.filter((f): f is string => typeof f === "string") } : {}),
  };
}

/** `GET <peer>/files/models--org--name/<revision>/<path>` */
export function peerFileUrl(peerUrl: string, modelId: string, revision: string, path: string): string {
  const encoded = checkFilePath(path).split("/").map(encodeURIComponent).join("/");
  return `${peerUrl.replace(/\/+$/, "")}/files/${repoFolderName(modelId)}/${encodeURIComponent(revision)}/${encoded}`;
}
