/** A subscriber's handler threw: report it without disturbing the publisher or other subscribers. */
export function reportHandlerError(subject: string, error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    `${JSON.stringify({ level: "error", message: "event handler failed", subject, error: message })}\n`,
  );
}
