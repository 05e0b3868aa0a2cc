// Types of @statsync/react-native/core (the service, without React).

export interface StatsDocument {
  userId?: string;
  xp: number;
  hearts: number;
  diamonds: number;
  level: number;
  streak: number;
  maxStreak: number;
  accuracy: number;
  completedQuestions: number;
  correctAnswers: number;
  wrongAnswers: number;
  totalQuestions: number;
  totalTimeSpent: number;
  timePerQuestion: number[];
  lastGameResults: Record<string, unknown> | null;
  /** RFC 3339 UTC with milliseconds, set by the server. */
  updatedAt: string;
  /** Grows by one per committed change; -1 for local placeholder defaults. */
  version: number;
}

export interface StatsFields {
  xp?: number;
  hearts?: number;
  diamonds?: number;
  level?: number;
  streak?: number;
  maxStreak?: number;
  accuracy?: number;
  completedQuestions?: number;
  correctAnswers?: number;
  wrongAnswers?: number;
  totalQuestions?: number;
  totalTimeSpent?: number;
  /** In a delta: appended (a single number is a one-element array). In __set: replaces. */
  timePerQuestion?: number[] | number;
  lastGameResults?: Record<string, unknown> | null;
}

/** Numbers are added, timePerQuestion appended, lastGameResults replaced; then __set overrides. */
export interface StatsDelta extends StatsFields {
  __set?: StatsFields;
  /** Server-owned; accepted and ignored. */
  userId?: string;
  updatedAt?: string;
  version?: number;
}

/** AsyncStorage-compatible store. */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** AppState-compatible source of 'active' | 'background' | 'inactive'. */
export interface AppStateLike {
  currentState?: string | null;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void } | void;
  removeEventListener?(type: 'change', listener: (state: string) => void): void;
}

export interface NetInfoStateLike {
  isConnected: boolean | null;
  isInternetReachable?: boolean | null;
}

/** NetInfo-compatible network monitor. */
export interface NetInfoLike {
  addEventListener(listener: (state: NetInfoStateLike) => void): (() => void) | { remove(): void };
  fetch?(): Promise<NetInfoStateLike>;
}

export interface Logger {
  debug?(...args: unknown[]): void;
  info?(...args: unknown[]): void;
  warn?(...args: unknown[]): void;
  error?(...args: unknown[]): void;
}

/** What a token request is for: a REST request, a socket (re)connect, or a renewal before exp. */
export interface TokenRequest {
  reason: 'request' | 'connect' | 'refresh';
  /** true for a renewal and after the server refused a token: a caching source should fetch a new one. */
  forceRefresh: boolean;
}

export interface UserDataSyncOptions {
  /**
   * The App URL (REST and Socket.IO on one origin). Pass it explicitly —
   * `apiUrl: process.env.EXPO_PUBLIC_API_URL` in App.js: Expo inlines EXPO_PUBLIC_*
   * only into the app's own code. Development fallback: the SDK reads
   * process.env.EXPO_PUBLIC_API_URL itself.
   */
  apiUrl?: string;
  /** Default: apiUrl (development fallback: process.env.EXPO_PUBLIC_SOCKET_URL). */
  socketUrl?: string;
  /** Async token source (the JWT). Default: storage.getItem(tokenStorageKey). null: no token, no warning. */
  getToken?: ((request: TokenRequest) => Promise<string | null | undefined> | string | null | undefined) | null;
  /** A fixed token (tests, scripts). */
  token?: string;
  /** Default: @react-native-async-storage/async-storage when installed. null: memory only, no warning. */
  storage?: KeyValueStorage | null;
  /** Default: react-native's AppState inside React Native. null: none, no warning. */
  appState?: AppStateLike | null;
  /** Default: @react-native-community/netinfo when installed. null: none, no warning. */
  netInfo?: NetInfoLike | null;
  /** false: use only what is passed (no automatic AsyncStorage / NetInfo / AppState). Default true. */
  autoDetect?: boolean;
  /** Renew the socket's token this long before its exp (at most a third of its remaining life). Default 60000. */
  tokenRefreshLeadMs?: number;
  /** false: never renew the socket's token with auth:refresh (reconnects still fetch a fresh one). */
  tokenRefresh?: boolean;
  /** Debounce window in ms; default 600. */
  debounceMs?: number;
  /** Backoff start (ms); default 500. */
  reconnectionDelay?: number;
  /** Backoff cap (ms); default 5000. */
  reconnectionDelayMax?: number;
  /** ± fraction of randomization of REST retry delays; default 0. */
  retryJitter?: number;
  ackTimeoutMs?: number;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** presence:ping period while connected; 0 = off. Default 25000. */
  presencePingIntervalMs?: number;
  storageKeyPrefix?: string;
  tokenStorageKey?: string;
  /** false = REST only (no socket). Default true. */
  autoConnect?: boolean;
  /** Extra socket.io-client options. */
  socketOptions?: Record<string, unknown>;
  fetch?: typeof fetch;
  /** socket.io-client's io() or a compatible factory. */
  io?: (url: string, options: Record<string, unknown>) => unknown;
  generateOpId?: () => string;
  logger?: Logger;
}

export type SyncErrorKind = 'refused' | 'transient' | 'auth' | 'offline' | 'storage' | 'connection' | 'config';

export class SyncError extends Error {
  /**
   * refused: dropped for good; transient/auth/offline: kept and retried; storage: the store failed;
   * connection: the socket (connectionError); config: a set-up mistake (e.g. no apiUrl).
   */
  kind: SyncErrorKind;
  /**
   * e.g. invalid_value, insufficient_funds, network, timeout; for connectionError: connect_failed,
   * connect_refused, unauthorized, too_many_sockets, token_expired, refresh_refused; for config:
   * missing_api_url, invalid_url, conflicting_options, signed_out.
   */
  code?: string;
  /** connectionError: the server's own words (the refused CONNECT's message, the refusal's message). */
  reason?: string;
  status?: number;
  opId?: string;
  delta?: StatsDelta;
  retryAfterMs?: number;
}

export interface PresenceInfo {
  devices?: number;
  serverTime?: string | number;
  rttMs?: number;
}

export interface SyncState {
  userId: string;
  /** Optimistic document: last server document + queued deltas; null until known. */
  userData: StatsDocument | null;
  loading: boolean;
  /** Message of the last error, or null. */
  error: string | null;
  errorDetail: SyncError | Error | null;
  /** Last transient failure of background sync (kept queue, retrying); cleared by the next success. */
  syncError: SyncError | Error | null;
  connected: boolean;
  /**
   * Why the socket is not connected, with the server's reason: cannot reach it (connect_failed: wrong
   * URL or port, network), CONNECT refused (unauthorized, too_many_sockets, …), token_expired,
   * refresh_refused. null once connected. Writes go over REST meanwhile.
   */
  connectionError: SyncError | null;
  /** From NetInfo; null when unknown. */
  online: boolean | null;
  /** Queued operations not yet acknowledged. */
  pendingCount: number;
  syncing: boolean;
  /** When the server last answered a pull or an operation (ms since the epoch). */
  lastSyncedAt: number | null;
  presence: PresenceInfo | null;
  /** true after signOut(). */
  signedOut: boolean;
}

export interface PendingOperation {
  opId: string;
  /** This install's number for the operation (1, 2, 3 … under its clientId; never reused). */
  seq: number;
  delta: StatsDelta;
  createdAt: number;
  /** false while its debounce window is still open. */
  sealed: boolean;
}

export interface AckEvent {
  opId: string;
  seq: number;
  delta: StatsDelta;
  duplicate: boolean;
  doc?: StatsDocument;
}

export interface StaleEvent {
  doc: Partial<StatsDocument>;
  current: StatsDocument | null;
  source: 'push' | 'pull' | 'ack';
}

export interface UserDataSyncEvents {
  change: SyncState;
  error: SyncError | Error;
  refused: SyncError;
  ack: AckEvent;
  stale: StaleEvent;
  connect: void;
  disconnect: string;
  /** connectionError was set (also for every failed attempt). */
  connectError: SyncError;
  /** The socket's token was renewed (auth:refresh accepted); exp in seconds. */
  tokenRefresh: { exp: number | null };
  /**
   * The server answered seq_gap: it expects expectedSeq of this install, below the queue's first seq
   * (numbers it never recorded). The SDK goes on under a new clientId, keeping its numbers.
   */
  seqGap: SeqGapEvent;
  signedOut: { discarded: number };
}

export interface SeqGapEvent {
  expectedSeq: number;
  /** The seq that was sent (the queue's first). */
  seq: number;
  previousClientId: string;
  clientId: string;
}

export interface SignOutOptions {
  /** Send the queue first; rejects (and changes nothing) when it cannot be emptied. Default false: discard it. */
  flush?: boolean;
}

export class UserDataSync {
  constructor(userId: string, options?: UserDataSyncOptions);
  readonly userId: string;
  readonly apiUrl: string;
  readonly socketUrl: string;
  readonly connected: boolean;
  /** This install's durable clientId for the user (its ops are numbered under it); null until started. */
  readonly clientId: string | null;
  start(): Promise<void>;
  /** Resolves with the optimistic document once the delta is persisted in the queue. */
  updateUserStats(delta: StatsDelta): Promise<StatsDocument | null>;
  /** GET the document from the server; resolves with the optimistic document. */
  forcePull(): Promise<StatsDocument | null>;
  /** Sends every queued operation; rejects (entries kept) when a transient failure stopped it. */
  flushQueue(): Promise<{ pending: number }>;
  subscribe(listener: (state: SyncState) => void): () => void;
  on<E extends keyof UserDataSyncEvents>(event: E, listener: (arg: UserDataSyncEvents[E]) => void): () => void;
  getState(): SyncState;
  getUserData(): StatsDocument | null;
  getPendingOperations(): PendingOperation[];
  clearError(): void;
  /** Stops the service and deletes this user's stored queue and document (optionally flushing first). */
  signOut(options?: SignOutOptions): Promise<{ discarded: number }>;
  destroy(): Promise<void>;
  readonly destroyed: boolean;
}

export function createUserDataSync(userId: string, options?: UserDataSyncOptions): UserDataSync;
export function configureUserDataSync(options: UserDataSyncOptions): UserDataSyncOptions;
export function getUserDataSyncConfig(): UserDataSyncOptions;
export function acquireUserDataSync(userId: string, options?: UserDataSyncOptions): UserDataSync;
export function releaseUserDataSync(service: UserDataSync): void;
/** Signs userId out on this device, whether or not a service of theirs runs. */
export function signOutUserDataSync(userId: string, options?: SignOutOptions & UserDataSyncOptions): Promise<{ discarded: number }>;
/** The registry key of (userId, options): everything that matters, objects and functions by identity. */
export function userDataSyncKey(userId: string, options?: UserDataSyncOptions): string;
/** DESIGN §2: 1-128 bytes of UTF-8, no control characters, no leading or trailing whitespace. */
export function isValidUserId(userId: unknown): boolean;
/** A JWT's payload, read without verification (null when not a JWT). */
export function decodeJwtPayload(token: unknown): Record<string, unknown> | null;
/** A JWT's exp (seconds since the epoch), or null. */
export function tokenExp(token: unknown): number | null;
export function resetUserDataSyncRegistry(): Promise<void>;
export function createMemoryStorage(): KeyValueStorage;
export function randomOpId(): string;

export const DEFAULTS: Readonly<Required<Pick<UserDataSyncOptions,
  'debounceMs' | 'ackTimeoutMs' | 'requestTimeoutMs' | 'connectTimeoutMs' | 'reconnectionDelay' |
  'reconnectionDelayMax' | 'retryJitter' | 'presencePingIntervalMs' | 'storageKeyPrefix' | 'tokenStorageKey' |
  'tokenRefreshLeadMs' | 'autoConnect' | 'autoDetect'>>>;

export class Backoff {
  constructor(options?: { min?: number; max?: number; factor?: number; jitter?: number; random?: () => number });
  attempts: number;
  next(): number;
  reset(): void;
}

export function normalizeDelta(delta: StatsDelta): StatsDelta;
export function mergeDeltas(a: StatsDelta, b: StatsDelta): StatsDelta;
export function canMerge(a: StatsDelta | null, b: StatsDelta): boolean;
export function applyDelta(doc: StatsDocument, delta: StatsDelta): StatsDocument;
export function isNewer(incoming: Partial<StatsDocument> | null | undefined, current: Partial<StatsDocument> | null | undefined): boolean;
export function resolveConflict<T extends { updatedAt?: string }>(local: T, incoming: T): T;
export function defaultDocument(userId?: string): StatsDocument;
export const FIELDS: readonly string[];
export const HEARTS_MAX: number;
