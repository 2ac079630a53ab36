export declare const PLACEHOLDER_DATABASE_ID: string;
export declare const REQUIRED_SECRETS: string[];
export declare const DEMO_SECRETS: Set<string>;
export declare const MIN_SECRET_LENGTH: number;
export declare const DEMO_ACCOUNTS_SQL: string;
export interface WranglerConfigLike {
  vars?: Record<string, unknown>;
  d1_databases?: { binding: string; database_id?: string }[];
}
export interface SubscriberLike {
  username: string;
  domain: string;
  password: string;
  ha1: string;
}
export declare function checkConfig(config: WranglerConfigLike): string[];
export declare function checkSecretValues(values: Record<string, string>): string[];
export declare function checkSecretNames(names: string[]): string[];
export declare function demoAccounts(rows: SubscriberLike[]): string[];
export declare function checkSubscribers(rows: SubscriberLike[]): string[];
