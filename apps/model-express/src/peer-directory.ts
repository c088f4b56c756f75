// The peers that registered in discovery as holding a model (workers that fetched it), kept current.
import { type PeerRecord, parsePeerRecord, peerPrefixOf, peersPrefix } from "@kvasir/model-files";
import { type Discovery, followPrefix } from "@kvasir/runtime";

export class PeerDirectory {
  private readonly peers = new Map<string, PeerRecord>();
  private stopFollowing: (() => void) | undefined;

  constructor(
    private readonly discovery: Discovery,
    private readonly namespace: string,
    private readonly onChange: (count: number) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.stopFollowing = await followPrefix(this.discovery, peersPrefix(this.namespace), (event) => {
      if (event.type === "delete") this.peers.delete(event.key);
      else {
        const record = parsePeerRecord(event.value);
        if (record) this.peers.set(event.key, record);
      }
      this.onChange(this.peers.size);
    });
  }

  /** Peers holding the model at this revision (a commit). */
  of(modelId: string, revision: string): PeerRecord[] {
    const prefix = peerPrefixOf(this.namespace, modelId, revision);
    return [...this.peers].filter(([key]) => key.startsWith(prefix)).map(([, record]) => record);
  }

  stop(): void {
    this.stopFollowing?.();
  }
}
