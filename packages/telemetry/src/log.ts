// Structured logging: one JSON object per line on stderr, with the active trace's ids attached.
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { type LogLevel, levelEnabled, levelFromEnv } from "./log-level.js";

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly component: string;
  /** The threshold in force right now (a later setLogLevel changes it). */
  level(): LogLevel;
  enabled(level: LogLevel): boolean;
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields (e.g. request_id) to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Fixed threshold for this logger, overriding setLogLevel and the environment. */
  level?: LogLevel;
  /** Where lines go (without trailing newline); defaults to process.stderr. */
  sink?: (line: string) => void;
  env?: Record<string, string | undefined>;
  now?: () => Date;
}

// Set from --log-level by the process entry point; applies to every logger without its own level.
let processLevel: LogLevel | undefined;

export function setLogLevel(level: LogLevel | undefined): void {
  processLevel = level;
}

const RESERVED = new Set(["time", "level", "component", "msg"]);

interface LoggerCore {
  component: string;
  fixedLevel: LogLevel | undefined;
  envLevel: LogLevel;
  sink: (line: string) => void;
  now: () => Date;
}

export function createLogger(component: string, fields: LogFields = {}, options: LoggerOptions = {}): Logger {
  const core: LoggerCore = {
    component,
    fixedLevel: options.level,
    envLevel: levelFromEnv(options.env ?? process.env, component),
    sink: options.sink ?? ((line) => process.stderr.write(`${line}\n`)),
    now: options.now ?? (() => new Date()),
  };
  return makeLogger(core, fields);
}

function makeLogger(core: LoggerCore, bound: LogFields): Logger {
  const level = (): LogLevel => core.fixedLevel ?? processLevel ?? core.envLevel;
  const enabled = (l: LogLevel): boolean => levelEnabled(level(), l);
  const log =
    (l: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (!enabled(l)) return;
      core.sink(formatLine(core, l, msg, bound, fields));
    };
  return {
    component: core.component,
    level,
    enabled,
    trace: log("trace"),
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (fields) => makeLogger(core, { ...bound, ...fields }),
  };
}

function formatLine(
  core: LoggerCore,
  level: LogLevel,
  msg: string,
  bound: LogFields,
  fields?: LogFields,
): string {
  const record: Record<string, unknown> = {
    time: core.now().toISOString(),
    level,
    component: core.component,
    msg,
  };
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext !== undefined && isSpanContextValid(spanContext)) {
    record.trace_id = spanContext.traceId;
    record.span_id = spanContext.spanId;
  }
  for (const source of [bound, fields]) {
    if (source === undefined) continue;
    for (const [key, value] of Object.entries(source)) {
      // Caller fields never overwrite the envelope; they are kept under a prefixed key instead.
      record[RESERVED.has(key) ? `fields.${key}` : key] = value;
    }
  }
  return stringify(record);
}

function stringify(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record, replacer);
  } catch {
    // Circular structures: drop repeated objects rather than lose the line.
    const seen = new WeakSet<object>();
    return JSON.stringify(record, (key, value: unknown) => {
      const v = replacer(key, value);
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[Circular]";
        seen.add(v);
      }
      return v;
    });
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack };
  return value;
}
