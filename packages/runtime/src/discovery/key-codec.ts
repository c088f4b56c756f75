// NATS KV keys allow only [-/_=.A-Za-z0-9] and treat `.` as a token separator. Discovery keys carry model names
// (which may hold `.`, `:` and more), so every other byte is escaped as `=XX` (UTF-8 hex); `=` itself is escaped.
const SAFE = /^[-/_A-Za-z0-9]$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvKey(key: string): string {
  if (key === "") throw new Error("discovery keys must not be empty");
  let out = "";
  for (const char of key) {
    if (SAFE.test(char)) {
      out += char;
      continue;
    }
    for (const byte of encoder.encode(char)) out += `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function decodeKvKey(encoded: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === "=") {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i));
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}
