// Progress of a long transfer as log lines: bytes, rate and ETA, at most one line per interval.

export interface FilesLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: FilesLog = { info() {}, warn() {} };

export interface ProgressSnapshot {
  bytes: number;
  total: number;
  /** Bytes per second since the start. */
  rate: number;
  /** Seconds left at that rate; undefined before any byte. */
  etaSeconds: number | undefined;
}

export function progressOf(bytes: number, total: number, elapsedMs: number): ProgressSnapshot {
  const rate = elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0;
  return { bytes, total, rate, etaSeconds: rate > 0 ? Math.max(0, total - bytes) / rate : undefined };
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Counts bytes and logs `message` with bytes, total, rate and ETA every `intervalMs`, and once at the end. */
export class ProgressLog {
  private bytes = 0;
  private readonly started: number;
  private lastLog: number;

  constructor(
    private readonly log: FilesLog,
    private readonly message: string,
    private readonly total: number,
    private readonly fields: Record<string, unknown> = {},
    private readonly intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    this.lastLog = this.started;
  }

  add(n: number): void {
    this.bytes += n;
    const at = this.now();
    if (at - this.lastLog >= this.intervalMs) {
      this.lastLog = at;
      this.write(at);
    }
  }

  done(extra: Record<string, unknown> = {}): void {
    this.write(this.now(), extra);
  }

  private write(at: number, extra: Record<string, unknown> = {}): void {
    const p = progressOf(this.bytes, this.total, at - this.started);
    this.log.info(this.message, {
      ...this.fields,
      bytes: p.bytes,
      total_bytes: p.total,
      progress: `${formatBytes(p.bytes)} / ${formatBytes(p.total)}`,
      rate: `${formatBytes(p.rate)}/s`,
      ...(p.etaSeconds === undefined ? {} : { eta_seconds: Math.round(p.etaSeconds) }),
      ...extra,
    });
  }
}
