export { DEFAULT_SCANNER_AGENTS, compileScannerFilter, isScanner } from "./scanner.ts";
export type { ScannerFilter, ScannerOptions } from "./scanner.ts";
