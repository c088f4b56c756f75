import type { DisaggregationOutcome, EngineUsage, Phase } from "@kvasir/serving";
import type { FrontendEndpoint, FrontendErrorType, FrontendMetrics, RequestType } from "@kvasir/telemetry";
import type { AccessRecord } from "./access-log.js";
import { CLIENT_CLOSED, type HttpError } from "./errors.js";

export type Stage = "preprocess" | "route" | "dispatch";

export interface RequestLabels {
  model: string;
  endpoint: FrontendEndpoint;
  requestType: RequestType;
}

/** How a request ended, for `dynamo_frontend_requests_total{status,error_type}`. */
export type RequestOutcome = { status: "success" } | { status: "error"; errorType: FrontendErrorType };

/** The per-request view of the frontend's metrics; finished exactly once (later calls are ignored). */
export class RequestMetrics {
  private readonly started = performance.now();
  private current: { stage: Stage; phase: Phase | "" } | undefined;
  private lastToken: number | undefined;
  private done = false;
  /** The model label, built once as it goes with every token. */
  private readonly model: { model: string };

  constructor(
    private readonly metrics: FrontendMetrics,
    private readonly labels: RequestLabels,
    /** The request's access log line, told the model and token counts. */
    private readonly access?: AccessRecord,
  ) {
    const { model, endpoint, requestType } = labels;
    if (access) access.model = model;
    this.model = { model };
    metrics.requestsStartedTotal.inc({ model, endpoint, request_type: requestType });
    metrics.activeRequests.inc({ model });
    metrics.inflightRequests.inc({ model });
    metrics.queuedRequests.inc({ model });
  }

  /** Moves the request into a pipeline stage of a phase (leaving the previous one); undefined leaves every stage. */
  stage(stage: Stage | undefined, phase: Phase = "aggregated"): void {
    if (this.done) return;
    const next = stage && { stage, phase: stage === "preprocess" ? ("" as const) : phase };
    if (next?.stage === this.current?.stage && next?.phase === this.current?.phase) return;
    if (this.current) this.metrics.stageRequests.dec(this.current);
    this.current = next;
    if (next) this.metrics.stageRequests.inc(next);
  }

  /** How the request was prefilled, for a model served disaggregated. */
  disaggregation(outcome: DisaggregationOutcome): void {
    this.metrics.disaggregatedRequestsTotal.inc({ model: this.labels.model, prefill: outcome });
  }

  input(tokens: number): void {
    if (this.access) this.access.promptTokens = tokens;
    this.metrics.inputSequenceTokens.observe(this.model, tokens);
  }

  /** `count` output tokens arrived: the first arrival is the TTFT, later ones are inter-token latencies. */
  tokens(count: number): void {
    if (this.done) return;
    const now = performance.now();
    const model = this.model;
    if (this.lastToken === undefined) {
      this.metrics.timeToFirstToken.observe(model, (now - this.started) / 1000);
      this.metrics.queuedRequests.dec(model);
      this.stage(undefined);
    } else {
      const perToken = (now - this.lastToken) / 1000 / count;
      for (let i = 0; i < count; i++) this.metrics.interTokenLatency.observe(model, perToken);
    }
    this.lastToken = now;
    this.metrics.outputTokensTotal.inc(model, count);
  }

  finish(outcome: RequestOutcome, usage?: EngineUsage): void {
    if (this.done) return;
    this.stage(undefined);
    this.done = true;
    const { model, endpoint, requestType } = this.labels;
    const errorType = outcome.status === "error" ? outcome.errorType : "";
    this.metrics.requestsTotal.inc({
      model,
      endpoint,
      request_type: requestType,
      status: outcome.status,
      error_type: errorType,
    });
    this.metrics.activeRequests.dec({ model });
    this.metrics.inflightRequests.dec({ model });
    if (this.lastToken === undefined) this.metrics.queuedRequests.dec({ model });
    this.metrics.requestDuration.observe({ model }, (performance.now() - this.started) / 1000);
    if (usage && this.access) {
      this.access.promptTokens = usage.promptTokens;
      this.access.completionTokens = usage.completionTokens;
    }
    if (usage) {
      this.metrics.outputSequenceTokens.observe({ model }, usage.completionTokens);
      this.metrics.cachedTokens.observe({ model }, usage.cachedTokens);
    }
  }
}

/** The `error_type` label of a failed request. */
export function errorTypeOf({ status, code }: HttpError): FrontendErrorType {
  if (code === "overloaded" || code === "queue_full") return "overload";
  if (status === 400 || status === 413) return "validation";
  if (status === 404) return "not_found";
  if (status === CLIENT_CLOSED) return "cancelled";
  if (status === 503) return "unavailable";
  if (status === 504) return "response_timeout";
  return "internal";
}
