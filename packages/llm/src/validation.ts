import type { z } from "zod";

export type ValidationResult<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** An issue a refinement reports: a zod issue without the parts the check fills in. */
export type RefinementIssue = Omit<z.core.$ZodRawIssue, "input" | "inst" | "continue"> & { input?: unknown };

/**
 * A refinement as a zod check (`schema.check(refinement(fn))`): `fn` returns what is wrong with a parsed value.
 * Used instead of `superRefine`, which hangs an `addIssue` closure over the payload on every parse: that kept
 * each parsed request reachable until a full GC (the prompt and the body's text were promoted to the old
 * generation on every request; `pnpm bench:cpu` counts the cost).
 */
export function refinement<T>(
  fn: (value: T) => RefinementIssue | readonly RefinementIssue[] | undefined,
): (payload: z.core.ParsePayload<T>) => void {
  return (payload) => {
    const found = fn(payload.value);
    if (found === undefined) return;
    for (const issue of isIssueList(found) ? found : [found]) {
      // zod's raw issue types carry an index signature, so Omit<> loses their named keys: the cast restores them.
      payload.issues.push({ input: payload.value, continue: true, ...issue } as z.core.$ZodRawIssue);
    }
  };
}

/** The first problem zod found, in terms an API error can carry. */
export interface RequestProblem {
  /** Path to the bad field. */
  path: PropertyKey[];
  /** Dotted path with array indices in brackets, e.g. `messages[0].content`; null for the body itself. */
  param: string | null;
  kind: "missing" | "invalid_type" | "invalid_value";
  /** For invalid_type the expected type; otherwise what is wrong, without the field name. */
  detail: string;
  /** Set by schema refinements that name their own code (e.g. "unsupported_value"). */
  code?: string;
}

export function parseRequest<S extends z.ZodType>(
  schema: S,
  body: unknown,
): ValidationResult<z.output<S>, RequestProblem> {
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: describeIssue(deepestIssue(result.error.issues)) };
}

/** Path segments joined as `a.b[0].c`. */
export function formatParam(path: readonly PropertyKey[]): string | null {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out.length === 0 ? String(seg) : `.${String(seg)}`;
  }
  return out.length === 0 ? null : out;
}

// A union that failed in every branch reports one issue for the union; the branch that got furthest (longest
// path) usually names the real mistake, e.g. `messages[0].tool_call_id` rather than `messages[0]`.
function deepestIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues[0];
  if (!first) throw new Error("zod reported failure without issues");
  if (first.code !== "invalid_union" || first.errors.length === 0) return first;
  let best: z.core.$ZodIssue | undefined;
  for (const branch of first.errors) {
    const candidate = branch[0] ? deepestIssue(branch) : undefined;
    if (candidate && (!best || candidate.path.length > best.path.length)) best = candidate;
  }
  // Branches that fail at the union's own level say nothing more specific than the union.
  if (!best || best.path.length === 0) return first;
  return { ...best, path: [...first.path, ...best.path] };
}

function describeIssue(issue: z.core.$ZodIssue): RequestProblem {
  const path = [...issue.path];
  const param = formatParam(path);
  const absent =
    issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union");
  if (absent) return { path, param, kind: "missing", detail: "required" };
  if (issue.code === "invalid_type") return { path, param, kind: "invalid_type", detail: issue.expected };
  const problem: RequestProblem = { path, param, kind: "invalid_value", detail: issue.message };
  if (issue.code === "custom" && typeof issue.params?.code === "string") problem.code = issue.params.code;
  return problem;
}

function isIssueList(
  found: RefinementIssue | readonly RefinementIssue[],
): found is readonly RefinementIssue[] {
  return Array.isArray(found);
}
