// Types of scripts/build-apps.mjs for the TypeScript tests that build the apps.
export interface BuiltApp {
  app: string;
  dir: string;
  bundleBytes: number;
  nodeModulesBytes: number;
  totalBytes: number;
  packages: number;
  externals: string[];
  addon: boolean;
}
export const APPS: Record<string, { entry: string }>;
export function buildApp(app: string, options?: { outDir?: string; sourcemap?: boolean }): Promise<BuiltApp>;
export function formatTable(results: readonly BuiltApp[]): string;
