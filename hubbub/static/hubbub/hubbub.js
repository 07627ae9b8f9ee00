// Hubbub's browser client: one connection per page for every topic the page's modules
// subscribe to, dispatching by event type, resuming after the last event it handled. The
// connection is the hub's WebSocket (socket.js) where it gets through, else an EventSource;
// <meta name="hubbub-transport" content="sse"> keeps a page on EventSource.
//
//   import { hub } from "/static/hubbub/hubbub.js";
//   hub.subscribe("/chat/rooms/lobby");                 // an exact topic
//   hub.subscribePattern("https://example.com/books/:id"); // a URL Pattern
//   hub.on("chat.message", (data, event) => { ... });   // data: JSON-parsed when possible
//   hub.onStatus((status) => { ... });                  // "connecting" | "open" | "reconnecting"
//
// The page names the hub and the position it was rendered at, so that what was published
// between rendering and subscribing is replayed, with Mercure's discovery link
// ({% mercure_link %} of {% load hubbub %}):
//
//   <link rel="mercure" href="/.well-known/mercure" data-last-event-id="urn:uuid:...">
//
// Pages that still have <meta name="hubbub-url"> and <meta name="hubbub-last-event-id"> work too.

// The query the subscription is sent with: Mercure 1.0's, or draft-07's for an older hub
// (which has no URL Patterns: there, subscribePattern takes a URI template instead).
import { SocketTransport, textBody } from "./socket.js";

const PROTOCOL = "1.0";
const QUERY = {
  "1.0": { exact: "match", pattern: "match_urlpattern", lastEventId: "last_event_id" },
  "draft-07": { exact: "topic", pattern: "topic", lastEventId: "lastEventID" },
}[PROTOCOL];

const DEFAULT_HUB = "/.well-known/mercure";
const MAX_DELAY_MS = 30000;
const SLEEP_GAP_MS = 30000;

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

// Read when the stream first opens, once every element and script of the page is there.
function discover() {
  const link = document.querySelector('link[rel~="mercure"][href]');
  if (link) return { url: link.href, lastEventId: link.dataset.lastEventId || "" };
  return { url: meta("hubbub-url") || DEFAULT_HUB, lastEventId: meta("hubbub-last-event-id") };
}

class Hub {
  constructor() {
    this.url = null;
    this.topics = new Set();
    this.patterns = new Set();
    this.handlers = new Map();
    this.statusHandlers = new Set();
    this.lastEventId = "";
    this.source = null;
    this.status = "idle";
    this.delay = 1000;
    this.timer = null;
    this.scheduled = false;
    const socketable = meta("hubbub-transport") !== "sse" && typeof WebSocket === "function";
    this.socket = socketable ? new SocketTransport(this) : null;
    window.addEventListener("online", () => this.reconnect());
    window.addEventListener("offline", () => {
      // A socket may look open for minutes after the network went: requests must not wait on it.
      if (!this.socket) return;
      this.socket.close();
      this.setStatus("reconnecting");
    });
    let tick = Date.now();
    setInterval(() => {
      // A jump in wall-clock time means the machine slept: the stream may be dead.
      const now = Date.now();
      if (now - tick > SLEEP_GAP_MS) this.reconnect();
      tick = now;
    }, 5000);
  }

  subscribe(topic) {
    return this.add(this.topics, topic);
  }

  subscribePattern(pattern) {
    return this.add(this.patterns, pattern);
  }

  add(selectors, selector) {
    if (!selectors.has(selector)) {
      selectors.add(selector);
      this.schedule();
    }
    return this;
  }

  get subscribed() {
    return this.topics.size + this.patterns.size > 0;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) {
      this.handlers.set(type, new Set());
      if (this.source) this.listen(this.source, type);
    }
    this.handlers.get(type).add(handler);
    return this;
  }

  onStatus(handler) {
    this.statusHandlers.add(handler);
    handler(this.status);
    return this;
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const handler of this.statusHandlers) handler(status);
  }

  schedule() {
    // Opens once for all the modules of the page: module scripts run before
    // DOMContentLoaded, so waiting for it gathers every topic into one connection.
    if (this.scheduled) return;
    this.scheduled = true;
    const open = () => {
      this.scheduled = false;
      this.open();
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", open, { once: true });
    } else {
      queueMicrotask(open);
    }
  }

  reconnect() {
    if (this.socket) this.socket.close();
    if (this.subscribed) this.open();
  }

  // The WebSocket did not get through (socket.js): this page uses EventSource from now on.
  fallBack() {
    this.socket = null;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    if (!this.subscribed) return;
    if (this.url === null) ({ url: this.url, lastEventId: this.lastEventId } = discover());
    if (this.socket) {
      this.socket.open();
      return;
    }
    const url = new URL(this.url, window.location.href);
    for (const topic of this.topics) url.searchParams.append(QUERY.exact, topic);
    for (const pattern of this.patterns) url.searchParams.append(QUERY.pattern, pattern);
    if (this.lastEventId) url.searchParams.set(QUERY.lastEventId, this.lastEventId);
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    this.setStatus(this.status === "idle" ? "connecting" : "reconnecting");
    for (const type of this.handlers.keys()) this.listen(source, type);
    source.onopen = () => {
      this.delay = 1000;
      this.setStatus("open");
    };
    source.onerror = () => {
      if (this.source !== source) return;
      this.setStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status, e.g. 503): retry with backoff and jitter.
        this.timer = setTimeout(() => this.open(), this.delay * (0.5 + Math.random()));
        this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      }
    };
  }

  listen(source, type) {
    source.addEventListener(type, (event) => {
      if (this.source !== source) return;
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      this.deliver(type, event.data, event);
    });
  }

  deliver(type, text, event) {
    let data = text;
    try {
      data = JSON.parse(text);
    } catch (error) {
      // not JSON: handlers get the text
    }
    for (const handler of this.handlers.get(type) || []) {
      try {
        handler(data, event);
      } catch (error) {
        console.error("hubbub: handler for", type, "failed", error);
      }
    }
  }

  // fetch(), through the socket while it is connected (same-origin requests with a text or
  // form body, not keepalive ones), else fetch() itself. Cookies the answer sets are not kept.
  fetch(url, init = {}) {
    const target = new URL(url, window.location.href);
    const here = window.location.origin;
    const body = textBody(init.body);
    if (this.socket?.connected && body && !init.keepalive && target.origin === here
        && new URL(this.url ?? discover().url, window.location.href).origin === here) {
      return this.socket.fetch(target, init, body);
    }
    return window.fetch(url, init);
  }

  // Which connection the page has now: "websocket" or "eventsource" (null before the first).
  get transport() {
    if (this.socket) return this.socket.connected ? "websocket" : null;
    return this.source ? "eventsource" : null;
  }
}

export const hub = new Hub();
