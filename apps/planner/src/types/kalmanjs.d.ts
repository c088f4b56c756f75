// kalmanjs ships no types; this is the part of its API the planner uses (lib/kalman.js, v1.1).
declare module "kalmanjs" {
  interface KalmanOptions {
    /** Process noise. */
    R?: number;
    /** Measurement noise. */
    Q?: number;
    A?: number;
    B?: number;
    C?: number;
  }
  export default class KalmanFilter {
    constructor(options?: KalmanOptions);
    filter(z: number, u?: number): number;
    predict(u?: number): number;
    lastMeasurement(): number;
  }
}
