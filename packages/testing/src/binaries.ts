import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * Finds a server binary in PATH, /usr/bin or /usr/sbin (Debian puts nats-server in /usr/sbin), naming the Debian
 * package to install when it is missing.
 */
export function requireBinary(name: string, debianPackage: string): string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/bin", "/usr/sbin"];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory; try the next.
    }
  }
  throw new Error(
    `${name} not found in PATH, /usr/bin or /usr/sbin: install it with \`apt-get install ${debianPackage}\``,
  );
}
