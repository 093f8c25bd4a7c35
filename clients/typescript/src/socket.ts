// The native socket (`/ws/v1`) with the reconnect logic every team otherwise writes itself:
// jittered backoff over the node URLs it was given, `resume` from the last seq of every
// conversation on each reconnect, unacknowledged sends re-sent with their idempotency key, and
// the token refreshed before it expires. The application sees each message once, in seq order.
import type { DomainEvent } from "./events.js";
import { type Id, type Message, type TokenSource, type User, tokenOf } from "./rest.js";

/** The platform WebSocket (browsers, Node 22+) or a compatible class such as the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketClass = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** Base URLs of the nodes (or one load balancer): `http://host:8080`; reconnects go round them. */
  url: string | string[];
  token: TokenSource;
  /** Defaults to `globalThis.WebSocket`; on Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketClass;
  /** The highest seq the application already has per conversation (say, from stored history). */
  cursors?: Record<string, number>;
  /** Reconnect backoff: doubles from `minMs` up to `maxMs`, each wait jittered by up to half. */
  backoff?: { minMs?: number; maxMs?: number };
  /** Refresh the token this many seconds before it expires (needs a token function). */
  refreshBeforeSeconds?: number;
  /** How long a send waits for its acknowledgement, across reconnects, before it rejects. */
  sendTimeoutMs?: number;
}

export type ConnectionState = "connecting" | "open" | "closed";

/** A frame as it came off the socket, before the client sorts it. */
interface ServerEvent {
  type: string;
  [field: string]: unknown;
}

export interface ClientEvents {
  /** Every message of every conversation, once each, in seq order within its conversation. */
  message: (message: Message) => void;
  /** Every other domain event, as the server sent it: typing, receipts, presence, membership. */
  event: (event: DomainEvent) => void;
  state: (state: ConnectionState, detail: { url?: string; code?: number; reason?: string }) => void;
  hello: (hello: { user: User; node: string; heartbeat_interval: number; token_expires_at?: number }) => void;
  /** The server refused a frame, or the client gave up (`disconnected`, `token_expired`). */
  error: (error: { code: string; message: string; frame_type?: string }) => void;
}

interface PendingSend {
  frame: Record<string, unknown>;
  resolve: (message: Message) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

/** A rejected send or a refused frame, with the server's code. */
export class SocketError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SocketError";
  }
}

export class ChatwireClient {
  private readonly urls: string[];
  private readonly Socket: WebSocketClass;
  private readonly cursors = new Map<string, number>();
  /** Messages that arrived ahead of a gap, per conversation, until the gap is filled. */
  private readonly held = new Map<string, Map<number, Message>>();
  private readonly pending = new Map<string, PendingSend>();
  private readonly listeners: { [K in keyof ClientEvents]: Set<ClientEvents[K]> } = {
    message: new Set(),
    event: new Set(),
    state: new Set(),
    hello: new Set(),
    error: new Set(),
  };
  private ws: WebSocketLike | null = null;
  /** The current socket said hello: frames may go out. Before that, a send written at once
   * would overtake the unacknowledged ones that go again on hello. */
  private live = false;
  private next = 0;
  private attempt = 0;
  private stopped = false;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private heardAt = 0;
  /** A `resume` for a gap is out; more messages past the gap need not ask again. */
  private resumeAsked = false;
  private keySeq = 0;
  private readonly keyBase = Math.random().toString(36).slice(2, 10);
  /** Resolved by the first `hello`. */
  private ready!: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly options: ClientOptions) {
    this.urls = Array.isArray(options.url) ? options.url : [options.url];
    if (this.urls.length === 0) throw new TypeError("at least one url");
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
    if (!Socket) throw new TypeError("no WebSocket here: pass options.WebSocket (the ws package on Node 20)");
    this.Socket = Socket;
    for (const [conversation, seq] of Object.entries(options.cursors ?? {})) this.cursors.set(conversation, seq);
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Opens the socket; resolves once the first node said hello (and keeps reconnecting after). */
  connect(): Promise<void> {
    this.stopped = false;
    if (!this.ws) void this.open();
    return this.ready;
  }

  /** Closes for good: no reconnect; unacknowledged sends reject. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    for (const [key, send] of this.pending) {
      clearTimeout(send.timer);
      send.reject(new SocketError("closed", "the client was closed"));
      this.pending.delete(key);
    }
    this.ws?.close(1000, "bye");
    this.ws = null;
    this.live = false;
    this.emit("state", "closed", {});
  }

  /** The highest seq seen per conversation (what the next reconnect resumes from). */
  get positions(): Record<string, number> {
    return Object.fromEntries(this.cursors);
  }

  /**
   * Sends a message; resolves with it once stored. If the connection drops first, it is sent
   * again on the next one with the same idempotency key, so it is stored once.
   */
  send(conversationId: Id, content: string, options: { clientKey?: string } = {}): Promise<Message> {
    const key = options.clientKey ?? `${this.keyBase}-${Date.now().toString(36)}-${++this.keySeq}`;
    const frame = { type: "send", ref: key, conversation_id: conversationId, content, client_key: key };
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new SocketError("timeout", `no acknowledgement for ${key}`));
      }, this.options.sendTimeoutMs ?? 30_000);
      this.pending.set(key, { frame, resolve, reject, timer });
      this.write(frame);
    });
  }

  typing(conversationId: Id, isTyping: boolean): void {
    this.write({ type: "typing", conversation_id: conversationId, is_typing: isTyping });
  }

  /** Marks the conversation read up to `seq` (default: everything). */
  read(conversationId: Id, seq?: number): void {
    this.write({ type: "read", conversation_id: conversationId, ...(seq === undefined ? {} : { seq }) });
  }

  delivered(conversationId: Id, seq?: number): void {
    this.write({ type: "delivered", conversation_id: conversationId, ...(seq === undefined ? {} : { seq }) });
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<ClientEvents[K]>) => void)(...args);
      } catch (err) {
        // A listener's bug must not break delivery to the others.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  private write(frame: Record<string, unknown>): boolean {
    if (!this.live || this.ws?.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private async open(): Promise<void> {
    const base = this.urls[this.next % this.urls.length]!;
    this.next++;
    this.emit("state", "connecting", { url: base });
    let token: string;
    try {
      token = await tokenOf(this.options.token);
    } catch {
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const url = base.replace(/^http/, "ws").replace(/\/+$/, "") + "/ws/v1?token=" + encodeURIComponent(token);
    const ws = new this.Socket(url);
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.heardAt = Date.now();
      const text = typeof ev.data === "string" ? ev.data : String(ev.data);
      let frame: ServerEvent;
      try {
        frame = JSON.parse(text) as ServerEvent;
      } catch {
        return;
      }
      this.onFrame(frame, base);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.live = false;
      this.resumeAsked = false;
      this.clearTimers();
      this.emit("state", "closed", { url: base, code: ev.code, reason: ev.reason });
      if (this.stopped) return;
      if (ev.code === 4003) {
        // An operator disconnected this user everywhere: the same token must not come back.
        this.stopped = true;
        this.emit("error", { code: "disconnected", message: "disconnected by the server" });
        return;
      }
      if (ev.code === 4001 && typeof this.options.token === "string") {
        this.stopped = true;
        this.emit("error", { code: "token_expired", message: "the token expired; pass a token function to renew it" });
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and decides.
    };
  }

  private onFrame(frame: ServerEvent, url: string): void {
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        this.onHello(frame, url);
        return;
      case "message_created":
        this.accept(frame.message as Message);
        return;
      case "ack": {
        const message = frame.message as Message;
        this.accept(message);
        const send = this.pending.get(String(frame.client_key ?? frame.ref));
        if (send) {
          clearTimeout(send.timer);
          this.pending.delete(String(frame.client_key ?? frame.ref));
          send.resolve(message);
        }
        return;
      }
      case "resync":
        // The node may have missed events: ask for everything after what we have.
        this.resume();
        return;
      case "error": {
        const send = typeof frame.ref === "string" ? this.pending.get(frame.ref) : undefined;
        const code = String(frame.code ?? "error");
        const message = String(frame.message ?? "");
        // Overload and rate limits pass; the send stays pending and goes again on reconnect.
        if (send && code !== "overloaded" && code !== "rate_limited" && code !== "unavailable") {
          clearTimeout(send.timer);
          this.pending.delete(frame.ref as string);
          send.reject(new SocketError(code, message));
        }
        this.emit("error", { code, message, frame_type: frame.frame_type as string | undefined });
        return;
      }
      case "resumed":
        this.resumeAsked = false;
        return;
      case "pong":
      case "ok":
      case "refreshed":
        return;
      default:
        this.emit("event", frame as unknown as DomainEvent);
    }
  }

  private onHello(frame: ServerEvent, url: string): void {
    const hello = frame as unknown as Parameters<ClientEvents["hello"]>[0];
    this.live = true;
    this.emit("state", "open", { url });
    this.emit("hello", hello);
    // Missed messages first, then the sends that were never acknowledged.
    this.resume();
    for (const send of this.pending.values()) this.write(send.frame);
    this.scheduleRefresh(hello.token_expires_at);
    this.heardAt = Date.now();
    const interval = Math.max(1, hello.heartbeat_interval ?? 30) * 1000;
    this.watchdog = setInterval(() => {
      // A half-open connection (a node gone without a FIN) is only noticed by asking.
      if (Date.now() - this.heardAt > interval * 1.5) {
        this.ws?.close(4000, "no answer");
        return;
      }
      this.write({ type: "ping" });
    }, interval / 2);
    this.markReady();
  }

  private resume(): void {
    const cursors = [...this.cursors].map(([conversation_id, seq]) => ({ conversation_id: Number(conversation_id), seq }));
    if (cursors.length > 0) this.write({ type: "resume", cursors });
  }

  /** Hands the application each message once, in seq order within its conversation. */
  private accept(message: Message): void {
    const conversation = String(message.conversation_id);
    const last = this.cursors.get(conversation);
    if (last === undefined) {
      // First sight of this conversation: what came before is history, not a gap.
      this.deliver(conversation, message);
      return;
    }
    if (message.seq <= last) return;
    if (message.seq === last + 1) {
      this.deliver(conversation, message);
      const held = this.held.get(conversation);
      for (let seq = message.seq + 1; held?.has(seq); seq++) {
        const next = held.get(seq)!;
        held.delete(seq);
        this.deliver(conversation, next);
      }
      return;
    }
    // A gap the server has not filled yet: hold this one and ask for what is missing.
    let held = this.held.get(conversation);
    if (!held) this.held.set(conversation, (held = new Map()));
    held.set(message.seq, message);
    if (!this.resumeAsked) {
      this.resumeAsked = true;
      this.resume();
    }
  }

  private deliver(conversation: string, message: Message): void {
    this.cursors.set(conversation, message.seq);
    this.emit("message", message);
  }

  private scheduleReconnect(): void {
    const min = this.options.backoff?.minMs ?? 250;
    const max = this.options.backoff?.maxMs ?? 10_000;
    const base = Math.min(max, min * 2 ** this.attempt++);
    // Full jitter on half the wait: replicas restarted together are not hit by every client at once.
    const wait = base / 2 + Math.random() * (base / 2);
    setTimeout(() => {
      if (!this.stopped) void this.open();
    }, wait);
  }

  private scheduleRefresh(expiresAt: number | undefined): void {
    if (!expiresAt || typeof this.options.token === "string") return;
    const before = (this.options.refreshBeforeSeconds ?? 60) * 1000;
    const wait = Math.max(0, expiresAt * 1000 - Date.now() - before);
    this.refreshTimer = setTimeout(async () => {
      try {
        const token = await tokenOf(this.options.token);
        this.write({ type: "refresh", token });
        const next = expiryOf(token);
        this.scheduleRefresh(next);
      } catch {
        // The socket closes with 4001 at expiry and the reconnect fetches a token again.
      }
    }, wait);
  }

  private clearTimers(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.refreshTimer = null;
    this.watchdog = null;
  }
}

/** A JWT's `exp`, read without verifying it (the server does that). */
function expiryOf(token: string): number | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp : undefined;
  } catch {
    return undefined;
  }
}
