// Log levels and where they come from: an explicit --log-level, KVASIR_LOG_LEVEL, or Dynamo's DYN_LOG.

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SEVERITY: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  // "warning" is what Python-side Dynamo components accept; treat it as warn.
  if (v === "warning") return "warn";
  return (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
}

export function levelEnabled(threshold: LogLevel, level: LogLevel): boolean {
  return SEVERITY[level] >= SEVERITY[threshold];
}

/**
 * DYN_LOG is `default[,target=level]...` (e.g. `info,router=debug`). A directive applies to a component when
 * its target equals the component name or is a `::`/`.`-separated prefix of it; the longest match wins.
 */
export function levelFromDynLog(spec: string, component: string): LogLevel | undefined {
  let fallback: LogLevel | undefined;
  let best: { len: number; level: LogLevel } | undefined;
  for (const raw of spec.split(",")) {
    const directive = raw.trim();
    if (directive === "") continue;
    const eq = directive.indexOf("=");
    if (eq < 0) {
      fallback = parseLogLevel(directive) ?? fallback;
      continue;
    }
    const target = directive.slice(0, eq).trim();
    const level = parseLogLevel(directive.slice(eq + 1));
    if (level === undefined || !targetMatches(target, component)) continue;
    if (best === undefined || target.length > best.len) best = { len: target.length, level };
  }
  return best?.level ?? fallback;
}

function targetMatches(target: string, component: string): boolean {
  if (target === component) return true;
  return component.startsWith(`${target}::`) || component.startsWith(`${target}.`);
}

/** Level for a component from the environment alone: KVASIR_LOG_LEVEL wins over DYN_LOG; default info. */
export function levelFromEnv(env: Record<string, string | undefined>, component: string): LogLevel {
  const own = parseLogLevel(env.KVASIR_LOG_LEVEL);
  if (own !== undefined) return own;
  const dyn = env.DYN_LOG;
  return (dyn !== undefined ? levelFromDynLog(dyn, component) : undefined) ?? "info";
}
