/// <reference path="./types/kalmanjs.d.ts" />
// Load predictors (Dynamo's --load-predictor): each sees one value per adjustment interval (request count, mean
// ISL, mean OSL) and forecasts the next. constant and kalman are Dynamo's; moving-average, arima and holt-winters
// are the usual alternatives (Dynamo's prophet is not available in Node).
import { createRequire } from "node:module";
import KalmanFilter from "kalmanjs";

export const LOAD_PREDICTORS = ["constant", "moving-average", "kalman", "arima", "holt-winters"] as const;
export type LoadPredictorName = (typeof LOAD_PREDICTORS)[number];

export interface LoadPredictor {
  observe(value: number): void;
  /** The forecast for the next interval; the last value (0 before any) until the model has enough points. */
  predict(): number;
}

export interface PredictorOptions {
  /** Points a windowed model keeps (moving average, ARIMA fit window). */
  window: number;
  /** Points before a model forecasts (before that: the last value). */
  minPoints: number;
  /** Model log1p(y) instead of y (Dynamo's --load-predictor-log1p): multiplicative bursts become additive. */
  log1p: boolean;
  kalmanQLevel: number;
  kalmanR: number;
  /** Holt-Winters smoothing of level, trend and season; season length (0: Holt's linear trend only). */
  holtAlpha: number;
  holtBeta: number;
  holtGamma: number;
  seasonLength: number;
}

export const DEFAULT_PREDICTOR_OPTIONS: PredictorOptions = {
  window: 30,
  minPoints: 5,
  log1p: false,
  kalmanQLevel: 1,
  kalmanR: 10,
  holtAlpha: 0.5,
  holtBeta: 0.3,
  holtGamma: 0.3,
  seasonLength: 0,
};

class History {
  readonly values: number[] = [];
  constructor(private readonly limit: number) {}
  push(v: number): void {
    this.values.push(v);
    if (this.values.length > this.limit) this.values.shift();
  }
  get last(): number {
    return this.values.at(-1) ?? 0;
  }
}

class ConstantPredictor implements LoadPredictor {
  private last = 0;
  observe(value: number): void {
    this.last = value;
  }
  predict(): number {
    return this.last;
  }
}

class MovingAveragePredictor implements LoadPredictor {
  private readonly history: History;
  constructor(window: number) {
    this.history = new History(Math.max(1, window));
  }
  observe(value: number): void {
    this.history.push(value);
  }
  predict(): number {
    const { values } = this.history;
    return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
  }
}

/** A random-walk level filtered by kalmanjs: R is its process noise (--kalman-q-level), Q its measurement noise. */
class KalmanPredictor implements LoadPredictor {
  private readonly filter: KalmanFilter;
  private count = 0;
  private last = 0;
  private level = 0;
  constructor(private readonly options: PredictorOptions) {
    this.filter = new KalmanFilter({ R: options.kalmanQLevel, Q: options.kalmanR });
  }
  observe(value: number): void {
    this.count++;
    this.last = value;
    this.level = this.filter.filter(value);
  }
  predict(): number {
    return this.count < this.options.minPoints ? this.last : this.filter.predict();
  }
  get state(): number {
    return this.level;
  }
}

type ArimaConstructor = typeof import("arima");
let arimaModule: ArimaConstructor | undefined;
/** arima is an Emscripten build compiled on first load; only planners that choose it pay for that. */
function loadArima(): ArimaConstructor {
  arimaModule ??= createRequire(import.meta.url)("arima") as ArimaConstructor;
  return arimaModule;
}

/** ARIMA(1,1,1) refitted over the window each interval (the `arima` package, a port of ctsa). */
class ArimaPredictor implements LoadPredictor {
  private readonly history: History;
  constructor(private readonly options: PredictorOptions) {
    this.history = new History(Math.max(options.minPoints, options.window));
  }
  observe(value: number): void {
    this.history.push(value);
  }
  predict(): number {
    const values = this.history.values;
    if (values.length < Math.max(5, this.options.minPoints)) return this.history.last;
    // A constant series has no variance to fit; ctsa returns NaN for it.
    if (values.every((v) => v === values[0])) return this.history.last;
    const ARIMA = loadArima();
    const model = new ARIMA({ p: 1, d: 1, q: 1, verbose: false });
    try {
      model.train(values);
      const [forecast] = model.predict(1);
      const next = forecast[0];
      return next !== undefined && Number.isFinite(next) ? next : this.history.last;
    } catch {
      return this.history.last;
    } finally {
      model.destroy();
    }
  }
}

/** Additive Holt-Winters (Holt's linear trend when seasonLength is 0). */
class HoltWintersPredictor implements LoadPredictor {
  private count = 0;
  private level = 0;
  private trend = 0;
  private last = 0;
  private readonly season: number[];
  constructor(private readonly options: PredictorOptions) {
    this.season = new Array<number>(Math.max(0, options.seasonLength)).fill(0);
  }
  private seasonal(offset: number): number {
    const m = this.season.length;
    return m === 0 ? 0 : (this.season[(this.count + offset) % m] ?? 0);
  }
  observe(value: number): void {
    const { holtAlpha: a, holtBeta: b, holtGamma: g } = this.options;
    this.last = value;
    if (this.count === 0) {
      this.level = value;
    } else {
      const s = this.seasonal(0);
      const previous = this.level;
      this.level = a * (value - s) + (1 - a) * (this.level + this.trend);
      this.trend = b * (this.level - previous) + (1 - b) * this.trend;
      if (this.season.length > 0) {
        this.season[this.count % this.season.length] = g * (value - this.level) + (1 - g) * s;
      }
    }
    this.count++;
  }
  predict(): number {
    if (this.count < this.options.minPoints) return this.last;
    return this.level + this.trend + this.seasonal(0);
  }
}

/** log1p in, expm1 out: the wrapped model sees relative changes. */
class Log1pPredictor implements LoadPredictor {
  constructor(private readonly inner: LoadPredictor) {}
  observe(value: number): void {
    this.inner.observe(Math.log1p(Math.max(0, value)));
  }
  predict(): number {
    return Math.expm1(this.inner.predict());
  }
}

/** Never below zero: a falling trend must not forecast negative traffic. */
class NonNegative implements LoadPredictor {
  constructor(private readonly inner: LoadPredictor) {}
  observe(value: number): void {
    if (Number.isFinite(value)) this.inner.observe(value);
  }
  predict(): number {
    const p = this.inner.predict();
    return Number.isFinite(p) ? Math.max(0, p) : 0;
  }
}

export function createPredictor(
  name: LoadPredictorName,
  options: Partial<PredictorOptions> = {},
): LoadPredictor {
  const o = { ...DEFAULT_PREDICTOR_OPTIONS, ...options };
  const inner: LoadPredictor =
    name === "constant"
      ? new ConstantPredictor()
      : name === "moving-average"
        ? new MovingAveragePredictor(o.window)
        : name === "kalman"
          ? new KalmanPredictor(o)
          : name === "arima"
            ? new ArimaPredictor(o)
            : new HoltWintersPredictor(o);
  return new NonNegative(o.log1p && name !== "constant" ? new Log1pPredictor(inner) : inner);
}
