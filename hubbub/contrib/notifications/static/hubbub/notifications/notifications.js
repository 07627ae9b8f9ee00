// Notifications in the page: the bell's unread count, toasts (or browser notifications when the
// tab is hidden), and the live notification centre. Every event carries the absolute unread
// count and is keyed by notification id, so replays after a reconnect change nothing twice.
//
// Events on the user's topic (data-topic of the bell, or of the notification centre's list on a
// page without the bell):
//   "notification"      {id, title, body, url, level, created, read, unread}
//   "notification.read" {ids, up_to, unread}
//
// The bell and the list also carry the hub position they were rendered at (data-last-event-id),
// the hub's URL (data-hub-url) and the URL of the hub's client module (data-hub-module).

const bell = document.getElementById("notification-bell");
const list = document.getElementById("notification-list");
const config = (bell || list)?.dataset;
const TOAST_MS = 8000;
const MAX_TOASTS = 3;

const state = {
  unread: Number(config?.unread || 0),
  newest: Number(config?.newest || 0),
  announced: new Set(),
  // Bumped each time the count is set, so that a mark-read reply can tell whether it is still the newest.
  version: 0,
};

function safeHref(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (error) {
    return null;
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setUnread(count) {
  if (typeof count !== "number" || count < 0) return;
  state.unread = count;
  state.version += 1;
  const badge = document.getElementById("notification-count");
  if (badge) {
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
  }
  if (bell) {
    bell.dataset.unread = String(count);
    bell.setAttribute("aria-label", `Notifications: ${count} unread`);
  }
  const summary = document.getElementById("notification-unread");
  if (summary) summary.textContent = String(count);
  const readAll = document.querySelector("#notification-read-all button");
  if (readAll) readAll.disabled = count === 0;
}

// Toasts and browser notifications

function showToast(data) {
  const region = document.getElementById("notification-toasts");
  if (!region) return;
  while (region.children.length >= MAX_TOASTS) region.firstElementChild.remove();
  const toast = element("div", `notification-toast notification--${data.level}`);
  toast.dataset.id = String(data.id);
  const href = safeHref(data.url);
  const title = element("p", "notification-toast__title");
  if (href) {
    const link = element("a", "", data.title);
    link.href = href;
    title.append(link);
  } else {
    title.textContent = data.title;
  }
  toast.append(title);
  if (data.body) toast.append(element("p", "notification-toast__body", data.body));
  const close = element("button", "notification-toast__close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss notification");
  close.addEventListener("click", () => toast.remove());
  toast.append(close);
  region.append(toast);
  let timer = setTimeout(() => toast.remove(), TOAST_MS);
  // Keep it while the pointer or keyboard focus is on it.
  const hold = () => clearTimeout(timer);
  const release = () => {
    clearTimeout(timer);
    timer = setTimeout(() => toast.remove(), TOAST_MS / 2);
  };
  toast.addEventListener("mouseenter", hold);
  toast.addEventListener("focusin", hold);
  toast.addEventListener("mouseleave", release);
  toast.addEventListener("focusout", release);
}

function canNotifyNatively() {
  return "Notification" in window && Notification.permission === "granted";
}

function showNative(data) {
  // The tag makes the browser show one notification even when several tabs are open.
  const native = new Notification(data.title, { body: data.body || "", tag: `hubbub-notification-${data.id}` });
  const href = safeHref(data.url);
  native.addEventListener("click", () => {
    window.focus();
    if (href) window.location.href = href;
    native.close();
  });
}

function announce(data) {
  if (state.announced.has(data.id) || data.id <= state.newest) return;
  state.announced.add(data.id);
  state.newest = data.id;
  if (document.visibilityState !== "visible" && canNotifyNatively()) {
    try {
      showNative(data);
      return;
    } catch (error) {
      // e.g. a browser that allows notifications only from a service worker: fall back to a toast
    }
  }
  showToast(data);
}

// The notification centre (/notifications/)

function csrfToken() {
  return document.querySelector("#notification-read-all input[name=csrfmiddlewaretoken]")?.value || "";
}

function markItemsRead(ids, upTo) {
  if (!list) return;
  for (const item of list.querySelectorAll("li.notification.is-unread")) {
    const id = Number(item.dataset.id);
    if (ids.length ? ids.includes(id) : upTo !== null && upTo !== undefined && id <= upTo) {
      item.classList.remove("is-unread");
      const stateText = item.querySelector(".notification__state");
      if (stateText) stateText.textContent = "Read:";
      item.querySelector(".notification__read-form")?.remove();
    }
  }
}

// One format for every time in the list, the server's and the live ones: the reader's locale and time zone.
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function showTime(time) {
  const when = new Date(time.dateTime);
  if (!Number.isNaN(when.getTime())) time.textContent = timeFormat.format(when);
}

function renderItem(data) {
  const item = element("li", `notification notification--${data.level}${data.read ? "" : " is-unread"}`);
  item.dataset.id = String(data.id);
  const main = element("div", "notification__main");
  const title = element("p", "notification__title");
  title.append(element("span", "notification__state notifications-sr-only", data.read ? "Read:" : "Unread:"), " ");
  const href = safeHref(data.url);
  if (href) {
    const link = element("a", "", data.title);
    link.href = href;
    title.append(link);
  } else {
    title.append(data.title);
  }
  main.append(title);
  if (data.body) main.append(element("p", "notification__body", data.body));
  const meta = element("p", "notification__meta");
  const level = data.level.charAt(0).toUpperCase() + data.level.slice(1);
  const time = element("time");
  time.dateTime = data.created;
  showTime(time);
  meta.append(element("span", "notification__level", level), " · ", time);
  main.append(meta);
  item.append(main);
  if (!data.read) {
    const form = element("form", "js-mark-read notification__read-form");
    form.method = "post";
    form.action = list.dataset.readUrlTemplate.replace("/0/", `/${data.id}/`);
    const token = element("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken();
    const button = element("button", "notification-button notification-button--small", "Mark read");
    button.type = "submit";
    button.append(element("span", "notifications-sr-only", `: ${data.title}`));
    form.append(token, button);
    item.append(form);
  }
  return item;
}

function addToList(data) {
  if (!list || list.dataset.live !== "true") return;
  if (list.querySelector(`li[data-id="${data.id}"]`)) return;
  const item = renderItem(data);
  const newer = [...list.children].find((other) => Number(other.dataset.id) < data.id);
  list.insertBefore(item, newer || null);
  document.getElementById("notification-empty").hidden = true;
  const upTo = document.querySelector("#notification-read-all input[name=up_to]");
  if (upTo && Number(upTo.value) < data.id) upTo.value = String(data.id);
}

async function submitMarkRead(event) {
  const form = event.target.closest("form.js-mark-read");
  if (!form) return;
  event.preventDefault();
  const body = new FormData(form);
  const version = state.version;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const result = await response.json();
    markItemsRead(result.ids, null);
    if (form.id === "notification-read-all") {
      // What was sent: a notification that arrived since raised the form's up_to, and is unread.
      markItemsRead([], Number(body.get("up_to") || 0));
    }
    // The reply counts after this mark-read, but an event handled while it was in flight may
    // count after a later change (a new notification), which a late reply would undo. So the
    // reply's count is applied only if nothing set the count meanwhile; otherwise the events
    // have the last word, and they end right: this mark-read publishes notification.read with
    // a count taken after it, and a user's events arrive in the order they were counted
    // (events.py). Not relying on events alone keeps the bell right while the stream is down.
    if (state.version === version) setUnread(result.unread);
  } catch (error) {
    form.submit();
  }
}

function setUpPermissionButton() {
  const button = document.getElementById("notification-permission");
  if (!button || !("Notification" in window)) return;
  const refresh = () => {
    button.hidden = Notification.permission !== "default";
  };
  refresh();
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    refresh();
  });
}

// Wiring

function onNotification(data) {
  if (!data || typeof data.id !== "number") return;
  setUnread(data.unread);
  addToList(data);
  announce(data);
}

function onRead(data) {
  if (!data) return;
  markItemsRead(Array.isArray(data.ids) ? data.ids : [], data.up_to);
  setUnread(data.unread);
}

function givePosition() {
  // hubbub.js finds the hub and the position to resume from in <link rel="mercure">. A page
  // that took its own position before reading its data (a chat room, the notification centre)
  // has one; else the bell's is the page's. Added before hubbub.js opens its stream.
  if (!config.lastEventId || document.querySelector('link[rel~="mercure"], meta[name="hubbub-last-event-id"]')) return;
  const link = document.createElement("link");
  link.rel = "mercure";
  link.href = config.hubUrl || "/.well-known/mercure";
  link.dataset.lastEventId = config.lastEventId;
  document.head.append(link);
}

async function start() {
  givePosition();
  // Out of the header, whose styles may make it the containing block of fixed elements.
  const toasts = document.getElementById("notification-toasts");
  if (toasts) document.body.append(toasts);
  if (list) {
    list.closest(".notification-centre").addEventListener("submit", submitMarkRead);
    for (const time of list.querySelectorAll("li.notification time[datetime]")) showTime(time);
    setUpPermissionButton();
  }
  const { hub } = await import(config.hubModule);
  hub.on("notification", onNotification);
  hub.on("notification.read", onRead);
  hub.subscribe(config.topic);
}

if (config?.topic) start();
