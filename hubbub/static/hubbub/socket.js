// The hub over a WebSocket, for hubbub.js: one socket per page carrying the page's topics as
// one subscription (docs/websocket.md). It resumes after the last event the page handled,
// replaces its subscription when the page adds topics, and reconnects with backoff. If the
// socket cannot open at all on this page (a proxy or a server without WebSocket), it hands
// over to the hub's EventSource transport, for good.

const MAX_DELAY_MS = 30000;

export class SocketTransport {
  constructor(hub) {
    this.hub = hub;
    this.socket = null;
    this.everOpened = false;
    this.current = null; // the id of the page's subscription on the socket
    this.count = 0;
    this.refs = 0;
    this.pending = new Map(); // ref -> { resolve, reject } of requests awaiting their answer
    this.delay = 1000;
    this.timer = null;
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN && this.current !== null;
  }

  url() {
    const url = new URL(this.hub.url, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    return url;
  }

  // Subscribe to the hub's topics now: on an open socket the new subscription replaces the old.
  open() {
    clearTimeout(this.timer);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.subscribe();
    else if (!this.socket) this.connect();
  }

  close() {
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    this.current = null;
    if (socket) socket.close(1000);
    this.failPending("the socket was closed");
  }

  connect() {
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.hub.fallBack();
      return;
    }
    this.socket = socket;
    let opened = false;
    this.hub.setStatus(this.hub.status === "idle" ? "connecting" : "reconnecting");
    socket.onopen = () => {
      opened = true;
      this.everOpened = true;
      this.subscribe();
    };
    socket.onmessage = (message) => {
      if (this.socket === socket) this.receive(message);
    };
    socket.onclose = (closed) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.current = null;
      this.failPending(`the socket closed (${closed.code})`);
      if (!opened && !this.everOpened) {
        this.hub.fallBack(); // never opened on this page: WebSocket does not get through
        return;
      }
      this.hub.setStatus("reconnecting");
      this.timer = setTimeout(() => this.connect(), this.delay * (0.5 + Math.random()));
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    };
  }

  subscribe() {
    const previous = this.current;
    this.current = `page-${++this.count}`;
    const request = { type: "subscribe", id: this.current };
    if (this.hub.topics.size) request.match = [...this.hub.topics];
    if (this.hub.patterns.size) request.match_urlpattern = [...this.hub.patterns];
    if (this.hub.lastEventId) request.last_event_id = this.hub.lastEventId;
    this.send(request);
    if (previous) this.send({ type: "unsubscribe", id: previous });
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  // A request answered by the hub with its ref: resolves with the answer, rejects on an error.
  call(message) {
    if (!this.connected) return Promise.reject(new Error("hubbub: the socket is not open"));
    const ref = ++this.refs;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.send({ ...message, ref });
    });
  }

  // fetch() over the socket (a "request" message): resolves with a Response, as fetch does.
  async fetch(target, init, body) {
    const headers = new Headers(init.headers);
    if (body.type && !headers.has("content-type")) headers.set("content-type", body.type);
    const answer = await this.call({
      type: "request",
      method: init.method || "GET",
      path: target.pathname + target.search,
      headers: Object.fromEntries(headers),
      body: body.text,
    });
    const empty = [101, 204, 205, 304].includes(answer.status);
    return new Response(empty ? null : answer.body, { status: answer.status, headers: answer.headers });
  }

  failPending(reason) {
    for (const { reject } of this.pending.values()) reject(new Error(`hubbub: ${reason}`));
    this.pending.clear();
  }

  receive(message) {
    let answer;
    try {
      answer = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (answer.type === "event") {
      if (answer.subscription !== this.current) return; // a replaced subscription's last events
      const type = answer.event || "message";
      this.hub.lastEventId = answer.id;
      this.hub.deliver(type, answer.data, new MessageEvent(type, { data: answer.data, lastEventId: answer.id }));
      return;
    }
    const waiting = answer.ref !== undefined ? this.pending.get(answer.ref) : undefined;
    if (waiting) {
      this.pending.delete(answer.ref);
      if (answer.type === "error") {
        const error = new Error(`hubbub: ${answer.status} ${answer.reason}`);
        error.status = answer.status;
        waiting.reject(error);
      } else {
        waiting.resolve(answer);
      }
      return;
    }
    if (answer.type === "subscribed" && answer.id === this.current) {
      this.delay = 1000;
      this.hub.setStatus("open");
    } else if (answer.type === "error" && answer.id === this.current) {
      // The subscription was refused (401: no token nor session where the hub requires one).
      console.warn("hubbub: subscription refused:", answer.status, answer.reason);
      this.hub.setStatus("reconnecting");
    }
  }
}

// A request body as text and its type, when it is one the socket can carry (text and
// forms without files); null otherwise.
export function textBody(body) {
  if (body === undefined || body === null) return { text: "", type: "" };
  if (typeof body === "string") return { text: body, type: "text/plain;charset=UTF-8" };
  const form = "application/x-www-form-urlencoded;charset=UTF-8";
  if (body instanceof URLSearchParams) return { text: body.toString(), type: form };
  if (body instanceof FormData) {
    const fields = new URLSearchParams();
    for (const [name, value] of body) {
      if (typeof value !== "string") {
        if (value.name === "" && value.size === 0) continue; // a file input left empty
        return null; // a file goes over HTTP, as multipart
      }
      fields.append(name, value);
    }
    return { text: fields.toString(), type: form };
  }
  return null;
}
