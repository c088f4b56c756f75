// Incremental parser of a server-sent-events body: feed decoded text as it arrives, get each event's data.

export class SseDecoder {
  private buffer = "";

  /** Returns the `data` payloads of the events completed by this chunk (multi-line data joined with "\n"). */
  push(chunk: string): string[] {
    this.buffer += chunk.replace(/\r\n?/g, "\n");
    const events: string[] = [];
    let end = this.buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5));
      if (data.length > 0) events.push(data.join("\n"));
      end = this.buffer.indexOf("\n\n");
    }
    return events;
  }
}
