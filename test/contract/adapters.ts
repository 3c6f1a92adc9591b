/**
 * Every adapter builder in `apps/`, in file-name order: a new `apps/<name>.ts` exporting
 * `adapter: ContractAdapter` joins the contract, property and security suites by itself.
 */
import type { ContractAdapter } from './apps/types.js';

declare global {
  interface ImportMeta {
    /** Vite's glob import (vitest transforms it at build time). */
    glob<T>(pattern: string, options: { eager: true }): Record<string, T>;
  }
}

const modules = import.meta.glob<{ adapter?: ContractAdapter }>('./apps/*.ts', { eager: true });

export const adapters: ContractAdapter[] = Object.entries(modules)
  .filter(([path]) => !path.endsWith('/types.ts'))
  .sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([path, module]) => {
    if (module.adapter === undefined) throw new Error(`${path} must export \`adapter: ContractAdapter\``);
    return module.adapter;
  });
