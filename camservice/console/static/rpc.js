// JSON-RPC 2.0 over one WebSocket, reconnecting by itself with backoff.
import { RpcError } from "./errors.js";

const REQUEST_TIMEOUT_MS = 30000;
// close codes after which the credential is no good: no reconnecting
const FINAL_CLOSES = {
  4001: "You were not signed in in time.",
  4002: "Your sign-in has expired. Sign in again.",
  4003: "Your API key was revoked.",
  4004: "An administrator ended your session.",
  4005: "The connection was closed: too many requests.",
};

export class Connection {
  /**
   * @param {string} url the WebSocket URL
   * @param {object} hooks onOpen(connection) (after each connect), onState(state, detail),
   *   onNotification(method, params), onFinal(message)
   */
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    this.final = null;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this._failPending({ code: "offline" });
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Call `method`; resolves with the result, rejects with an RpcError. */
  call(method, params) {
    return this.callWithMetadata(method, params).then((reply) => reply.result);
  }

  /** As `call`, resolving with `{result, metadata, sent}` (`sent`: local ms). */
  callWithMetadata(method, params) {
    if (!this.open) return Promise.reject(new RpcError({ code: "offline" }));
    const id = this.nextId++;
    const message = { jsonrpc: "2.0", id, method };
    if (params !== undefined) message.params = params;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError({ code: "timeout" }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, sent: Date.now() });
      this.socket.send(JSON.stringify(message));
    });
  }

  _connect() {
    this.hooks.onState(this.attempt ? "reconnecting" : "connecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (e) {
      this._retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      Promise.resolve(this.hooks.onOpen(this)).then(
        () => {
          this.attempt = 0;
          this.hooks.onState("connected");
        },
        (err) => {
          if (err && err.code === -32001) {
            this._final(err.message);
          } else if (socket.readyState === WebSocket.OPEN) {
            socket.close(1000);
          }
        },
      );
    };
    socket.onmessage = (event) => this._message(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this._failPending({ code: "offline" });
      if (this.stopped) return;
      if (FINAL_CLOSES[event.code]) {
        this._final(this.final || FINAL_CLOSES[event.code]);
        return;
      }
      this._retry();
    };
  }

  _final(message) {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.hooks.onFinal(message);
  }

  _retry() {
    if (this.stopped) return;
    // 0.5 s, 1 s, 2 s ... at most 30 s, with a quarter of jitter
    const base = Math.min(30000, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.25));
    this.attempt += 1;
    this.hooks.onState("waiting", delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _failPending(error) {
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new RpcError(error));
    }
    this.pending.clear();
  }

  _message(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (message === null || typeof message !== "object") return;
    if (message.id !== undefined && message.id !== null && this.pending.has(message.id)) {
      const entry = this.pending.get(message.id);
      this.pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.error) entry.reject(new RpcError(message.error));
      else entry.resolve({ result: message.result, metadata: message.metadata, sent: entry.sent });
      return;
    }
    if (typeof message.method === "string") {
      if (message.method === "session_ended" && message.params) {
        this.final = FINAL_CLOSES[message.params.close_code] || null;
      }
      this.hooks.onNotification(message.method, message.params || {});
    }
  }
}
