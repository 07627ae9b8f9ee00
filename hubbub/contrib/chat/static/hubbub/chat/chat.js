// The chat page: live messages, history on scroll, posting, presence, typing and the
// members of a private room (its room list is rooms.js's).
//
// Everything from the hub may arrive twice (a replay after a reconnect repeats what the
// page already showed): messages are kept by id and in id order, presence and member lists
// carry their time and replace older ones, typing notices older than a few seconds are ignored.
// User text only ever goes in through textContent, except a message's html: its text rendered
// and sanitized on the server (formatting.py, the same HTML as the page shows), parsed in an
// inert <template> and inserted.
//
// Grouping and day separators are this script's alone, over the whole list after every change
// (the page as served, a live message, an older page, a deletion): the day depends on the
// reader's time zone, which only the browser knows, and one pass over the list keeps the
// boundaries right wherever messages come in. The server sends times in UTC (<time datetime>).

import { hub } from "../hubbub.js";

const TYPING_SHOWN_MS = 5000;
const TYPING_SEND_EVERY_MS = 3000;
const PRESENCE_EVERY_MS = 10000; // unless the page says (data-presence-every-ms: a third of the server's timeout)
const NEAR_BOTTOM_PX = 120;
const GROUP_WITHIN_MS = 5 * 60 * 1000; // a message this soon after the one before, by the same author, continues its group

const root = document.querySelector("[data-chat-room]");
if (root) start(root);

export function hue(name) {
  // The same as the avatar_hue template filter: over UTF-16 code units, in steps of 10 degrees.
  let value = 0;
  for (let i = 0; i < name.length; i++) value = (value * 31 + name.charCodeAt(i)) % 360;
  return value - (value % 10);
}

function newClientId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  return Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("-");
}

function start(root) {
  const slug = root.dataset.room;
  const me = root.dataset.me;
  const maxLength = Number(root.dataset.maxLength);
  const urls = {
    messages: root.dataset.messagesUrl,
    presence: root.dataset.presenceUrl,
    typing: root.dataset.typingUrl,
  };
  const clockOffset = Number(root.dataset.serverTime) - Date.now();
  const serverNow = () => Date.now() + clockOffset;

  const form = document.getElementById("composer");
  const textarea = document.getElementById("message-text");
  const sendButton = document.getElementById("send-button");
  const errorBox = document.getElementById("composer-error");
  const counter = document.getElementById("composer-count");
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const scroller = document.getElementById("chat-scroller");
  const list = document.getElementById("message-list");
  const messageTemplate = document.getElementById("message-template");
  const personTemplate = document.getElementById("person-template");
  const olderButton = document.getElementById("load-older");
  const historyStart = document.getElementById("history-start");
  const jumpButton = document.getElementById("jump-to-latest");
  const typingLine = document.getElementById("typing");
  const status = document.getElementById("connection-status");

  // Time stamps, in the reader's time zone.

  // The day separators give the date; a message shows its time, and the full date on hover.
  const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
  const thisYearsDay = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
  const otherYearsDay = new Intl.DateTimeFormat(undefined, { dateStyle: "full" });

  function showTime(time) {
    const when = new Date(time.dateTime);
    if (Number.isNaN(when.getTime())) return;
    time.textContent = clock.format(when);
    time.title = full.format(when);
  }

  // A day, in the reader's time zone: "2026-12-01".
  function dayOf(when) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
  }

  function dayInWords(when) {
    const now = new Date();
    if (dayOf(when) === dayOf(now)) return "Today";
    const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
    if (dayOf(when) === dayOf(yesterday)) return "Yesterday";
    return (when.getFullYear() === now.getFullYear() ? thisYearsDay : otherYearsDay).format(when);
  }

  function daySeparator(day) {
    const separator = document.createElement("li");
    separator.className = "day-separator";
    separator.dataset.day = day;
    const label = document.createElement("span");
    label.className = "day-separator-label";
    separator.append(label);
    return separator;
  }

  // Over the whole list: a separator before the first message of each day (one already in the
  // right place is kept, so that a live region does not announce it again), and a message by
  // the author of the one before, within a few minutes on the same day, drawn as a continuation.
  function regroup() {
    const unused = new Set(list.querySelectorAll(".day-separator"));
    let previous = null;
    for (const item of list.querySelectorAll(".message")) {
      const when = new Date(item.querySelector("time").dateTime);
      const valid = !Number.isNaN(when.getTime());
      const day = valid ? dayOf(when) : previous?.day;
      const newDay = valid && day !== previous?.day;
      if (newDay) {
        let separator = item.previousElementSibling;
        if (!separator?.classList.contains("day-separator") || separator.dataset.day !== day) {
          separator = daySeparator(day);
          item.before(separator);
        }
        unused.delete(separator);
        const label = separator.firstElementChild;
        const words = dayInWords(when);
        if (label.textContent !== words) label.textContent = words;
      }
      const gap = valid && previous?.when ? when - previous.when : Infinity;
      const continued = !newDay && previous?.author === item.dataset.author && gap >= 0 && gap <= GROUP_WITHIN_MS;
      item.classList.toggle("message--continued", continued);
      previous = { day, when: valid ? when : previous?.when, author: item.dataset.author };
    }
    for (const separator of unused) separator.remove();
  }

  // Messages, by id.

  const shown = new Map();
  const deleted = new Set();
  let hasMore = root.dataset.hasMore === "true";

  function decorate(item) {
    item.classList.toggle("message--own", item.dataset.author === me);
    showTime(item.querySelector("time"));
    return item;
  }

  for (const item of list.querySelectorAll(".message")) shown.set(Number(item.dataset.id), decorate(item));
  regroup();

  function render(message) {
    const item = messageTemplate.content.firstElementChild.cloneNode(true);
    item.id = `message-${message.id}`;
    item.dataset.id = String(message.id);
    item.dataset.author = message.author;
    const avatar = item.querySelector(".avatar");
    avatar.textContent = message.author.slice(0, 1).toUpperCase();
    avatar.dataset.hubbubHue = String(hue(message.author));
    item.querySelector(".message-author").textContent = message.author;
    item.querySelector("time").dateTime = message.created;
    const text = item.querySelector(".message-text");
    if (typeof message.html === "string") {
      const parsed = document.createElement("template");
      parsed.innerHTML = message.html;
      text.replaceChildren(parsed.content);
    } else {
      text.textContent = message.text;
    }
    return decorate(item);
  }

  function oldestShown() {
    const first = list.querySelector(".message");
    return first ? Number(first.dataset.id) : null;
  }

  function isNearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToLatest() {
    scroller.scrollTop = scroller.scrollHeight;
    jumpButton.hidden = true;
  }

  // Insert a live message in id order; returns false if it is already shown (a replay).
  function insert(message, { mine = false } = {}) {
    const id = Number(message.id);
    if (shown.has(id) || deleted.has(id)) return false;
    const oldest = oldestShown();
    if (hasMore && oldest !== null && id < oldest) return false; // older pages will bring it
    const follow = mine || isNearBottom();
    const item = render(message);
    item.classList.add("message--live");
    const messages = list.querySelectorAll(".message");
    let index = messages.length - 1;
    while (index >= 0 && Number(messages[index].dataset.id) > id) index--;
    if (index >= 0) messages[index].after(item);
    else list.prepend(item);
    shown.set(id, item);
    regroup();
    stopTyping(message.author);
    if (follow) scrollToLatest();
    else jumpButton.hidden = false;
    return true;
  }

  hub.subscribe(root.dataset.topic);
  hub.subscribe(root.dataset.userTopic);
  // The room lists, this page's sidebar among them, are rooms.js's. Here: if this user just
  // left this private room, reloading shows why it is closed now.
  hub.on("chat.room.removed", (room) => {
    if (room?.slug === slug) window.location.reload();
  });
  // The room renamed or given a topic by its owner: the title, the topic and the tab's title
  // follow; archived or brought back, the page reloads to show it read-only (or not); deleted, it goes.
  const roomName = document.getElementById("room-name");
  const roomTopic = document.getElementById("room-topic");
  hub.on("chat.room.changed", (room) => {
    if (!room || room.slug !== slug || typeof room.name !== "string") return;
    if (String(Boolean(room.archived)) !== root.dataset.archived) {
      window.location.reload();
      return;
    }
    const before = roomName.textContent;
    roomName.textContent = room.name;
    document.title = document.title.replace(`#${before}`, `#${room.name}`);
    roomTopic.textContent = room.topic || "";
    roomTopic.hidden = !room.topic;
  });
  hub.on("chat.room.deleted", (room) => {
    if (room?.slug === slug) window.location.assign(root.dataset.roomsUrl);
  });
  hub.on("chat.message", (message) => {
    if (message && message.room === slug) insert(message);
  });
  hub.on("chat.deleted", (data) => {
    if (!data || data.room !== slug) return;
    const id = Number(data.id);
    deleted.add(id);
    shown.get(id)?.remove();
    shown.delete(id);
    regroup();
  });

  jumpButton.addEventListener("click", () => {
    scrollToLatest();
    textarea.focus();
  });
  scroller.addEventListener("scroll", () => {
    if (isNearBottom()) jumpButton.hidden = true;
  }, { passive: true });

  // Older pages: on scrolling to the top, or with the button.

  let loading = false;

  async function loadOlder() {
    if (loading || !hasMore) return;
    const oldest = oldestShown();
    if (oldest === null) return;
    loading = true;
    olderButton.disabled = true;
    olderButton.textContent = "Loading older messages…";
    try {
      const response = await fetch(`${urls.messages}?before=${oldest}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
      const height = scroller.scrollHeight;
      const page = document.createDocumentFragment();
      for (const message of body.messages) {
        const id = Number(message.id);
        if (shown.has(id) || deleted.has(id) || id >= oldest) continue;
        const item = render(message);
        shown.set(id, item);
        page.append(item);
      }
      list.prepend(page);
      regroup();
      scroller.scrollTop += scroller.scrollHeight - height;
      hasMore = body.has_more;
      olderButton.textContent = "Load older messages";
    } catch (error) {
      olderButton.textContent = "Could not load older messages. Try again";
    } finally {
      loading = false;
      olderButton.disabled = false;
      olderButton.hidden = !hasMore;
      historyStart.hidden = hasMore;
    }
  }

  if (olderButton) {
    olderButton.addEventListener("click", loadOlder);
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadOlder();
    }, { root: scroller, rootMargin: "200px 0px 0px 0px" }).observe(olderButton);
  }

  // Posting.

  function showError(text) {
    errorBox.textContent = text;
    form.classList.toggle("composer--error", Boolean(text));
  }

  function statusInWords(status) {
    if (status === 401) return "Your session has ended: reload the page to sign in again. Your message is still in the box.";
    if (status === 403) return "The server refused the message (403): reload the page and try again. Your message is still in the box.";
    if (status === 413) return `Your message is too long: the limit is ${maxLength} characters.`;
    if (status === 429) return "You are sending messages too fast. Wait a moment and send again.";
    return `The message was not sent: the server answered ${status}. Try again in a moment.`;
  }

  function updateCounter() {
    const length = textarea.value.trim().length;
    const near = length > maxLength * 0.8;
    counter.textContent = near ? ` · ${length} / ${maxLength}` : "";
    counter.classList.toggle("composer-count--over", length > maxLength);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value;
    if (!text.trim()) {
      showError("Write a message first: an empty message was not sent.");
      textarea.focus();
      return;
    }
    if (sendButton.disabled) return;
    sendButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      // Over the hub's WebSocket while the page has one, else an HTTP request.
      const response = await hub.fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
        body: new FormData(form),
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body?.message) {
        if (textarea.value === text) textarea.value = "";
        typingSent = 0;
        showError("");
        updateCounter();
        insert(body.message, { mine: true });
      } else {
        showError(body?.error || statusInWords(response.status));
      }
    } catch (error) {
      showError("Could not reach the server: you may be offline. Your message was not sent and is still in the box.");
    } finally {
      sendButton.disabled = false;
      form.removeAttribute("aria-busy");
      textarea.focus();
    }
  });

  // @ autocomplete: "@" and the start of a name before the caret lists the room members whose
  // name starts so (people URL); arrows move, Enter or Tab (or a click) picks, Escape closes.

  const mentionList = document.getElementById("mention-list");
  let mentionQuery = null; // { start, prefix } of the "@name" being typed, or null
  let mentionAsked = 0;

  function mentionAt() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = /(^|[^\w@])@([\w.+-]{0,150})$/u.exec(before);
    return match ? { start: before.length - match[2].length - 1, prefix: match[2] } : null;
  }

  function mentionOptions() {
    return Array.from(mentionList.querySelectorAll(".mention-option"));
  }

  function closeMentions() {
    mentionQuery = null;
    mentionList.hidden = true;
    mentionList.replaceChildren();
    textarea.removeAttribute("aria-activedescendant");
  }

  function selectMention(index) {
    const options = mentionOptions();
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (options[index]) textarea.setAttribute("aria-activedescendant", options[index].id);
  }

  function pickMention(name) {
    if (!mentionQuery) return;
    const end = textarea.selectionStart;
    const value = textarea.value;
    textarea.value = `${value.slice(0, mentionQuery.start)}@${name} ${value.slice(end)}`;
    const caret = mentionQuery.start + name.length + 2;
    textarea.setSelectionRange(caret, caret);
    closeMentions();
    updateCounter();
    textarea.focus();
  }

  async function suggestMentions() {
    const query = mentionAt();
    if (!query || !root.dataset.peopleUrl) return closeMentions();
    const asked = ++mentionAsked;
    let people = [];
    try {
      const response = await fetch(`${root.dataset.peopleUrl}?q=${encodeURIComponent(query.prefix)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      people = response.ok ? (await response.json()).people || [] : [];
    } catch (error) {
      people = [];
    }
    if (asked !== mentionAsked) return; // a later keystroke asked again
    const now = mentionAt();
    if (!now || now.start !== query.start || people.length === 0) return closeMentions();
    // A name typed in full, and no longer one to choose: Enter sends.
    if (people.length === 1 && people[0].toLowerCase() === now.prefix.toLowerCase()) return closeMentions();
    mentionQuery = now;
    mentionList.replaceChildren(...people.map((name, index) => {
      const option = document.createElement("li");
      option.className = "mention-option";
      option.id = `mention-option-${index}`;
      option.setAttribute("role", "option");
      option.dataset.name = name;
      option.textContent = name;
      option.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the composer
        pickMention(name);
      });
      return option;
    }));
    mentionList.hidden = false;
    selectMention(0);
  }

  textarea.addEventListener("input", suggestMentions);
  textarea.addEventListener("blur", () => closeMentions());
  textarea.addEventListener("keydown", (event) => {
    if (mentionList.hidden || event.isComposing) return;
    const options = mentionOptions();
    const current = options.findIndex((option) => option.getAttribute("aria-selected") === "true");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      selectMention((current + step + options.length) % options.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && options[current]) {
      pickMention(options[current].dataset.name);
    } else if (event.key === "Escape") {
      closeMentions();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // not also a send
  });

  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // Typing: tell the room at most every few seconds; show others for a few seconds.

  let typingSent = 0;
  const typing = new Map();
  let typingTimer = null;

  function post(url, fields, options = {}) {
    const body = new URLSearchParams({ csrfmiddlewaretoken: csrfToken, ...fields });
    return hub.fetch(url, { method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" }, ...options });
  }

  textarea.addEventListener("input", () => {
    updateCounter();
    if (errorBox.textContent && textarea.value.trim()) showError("");
    if (!textarea.value.trim() || Date.now() - typingSent < TYPING_SEND_EVERY_MS) return;
    typingSent = Date.now();
    post(urls.typing, {}).catch(() => {});
  });

  function showTyping() {
    clearTimeout(typingTimer);
    const now = serverNow();
    for (const [name, until] of typing) if (until <= now) typing.delete(name);
    const names = [...typing.keys()].sort((a, b) => a.localeCompare(b));
    if (names.length === 0) typingLine.textContent = "";
    else if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length === 3) typingLine.textContent = `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
    else typingLine.textContent = `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
    if (typing.size) typingTimer = setTimeout(showTyping, Math.min(...typing.values()) - now + 50);
  }

  function stopTyping(name) {
    if (typing.delete(name)) showTyping();
  }

  hub.on("chat.typing", (data) => {
    if (!data || data.room !== slug || data.user === me) return;
    const until = Number(data.at) + TYPING_SHOWN_MS;
    if (!(until > serverNow())) return; // stale: a replay, or a notice already over
    typing.set(data.user, Math.max(typing.get(data.user) || 0, until));
    showTyping();
  });

  // Presence: say the page is open now and then; say goodbye when it goes.

  const client = newClientId();
  const presenceList = document.getElementById("presence-list");
  const presenceCounts = [document.getElementById("presence-count"), document.getElementById("here-count")];
  let presenceAt = Number(root.dataset.serverTime);

  function person(name) {
    const item = personTemplate.content.firstElementChild.cloneNode(true);
    item.dataset.name = name;
    const avatar = item.querySelector(".avatar");
    avatar.textContent = name.slice(0, 1).toUpperCase();
    avatar.dataset.hubbubHue = String(hue(name));
    item.querySelector(".person-name").textContent = name;
    if (name === me) {
      const you = document.createElement("span");
      you.className = "person-you";
      you.textContent = " (you)";
      item.append(you);
    }
    return item;
  }

  function showPresence(users) {
    presenceList.replaceChildren(...users.map(person));
    for (const count of presenceCounts) count.textContent = String(users.length);
  }

  hub.on("chat.presence", (data) => {
    if (!data || data.room !== slug || !Array.isArray(data.users) || Number(data.at) < presenceAt) return;
    presenceAt = Number(data.at);
    showPresence(data.users);
  });

  const sayOpen = () => post(urls.presence, { client, state: "open" }).catch(() => {});
  sayOpen();
  setInterval(sayOpen, Number(root.dataset.presenceEveryMs) || PRESENCE_EVERY_MS);
  // A tab hidden for long may have its timers slowed to one a minute, and dropped from the list: back at once.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") sayOpen();
  });
  window.addEventListener("pagehide", () => {
    const body = new URLSearchParams({ csrfmiddlewaretoken: csrfToken, client, state: "closed" });
    navigator.sendBeacon(urls.presence, body);
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) sayOpen();
  });

  // Members of a private room: each change brings the whole list and when it was read.

  const memberList = document.getElementById("member-list");
  let membersAt = Number(root.dataset.serverTime);

  hub.on("chat.members", (data) => {
    if (!memberList || !data || data.room !== slug || !Array.isArray(data.members) || Number(data.at) < membersAt) return;
    membersAt = Number(data.at);
    memberList.replaceChildren(...data.members.map(person));
    const count = data.members.length;
    document.getElementById("member-count").textContent = String(count);
    document.getElementById("member-total").textContent = `${count} member${count === 1 ? "" : "s"}`;
  });

  // Connection status, in words.

  const words = {
    idle: "Connecting…",
    connecting: "Connecting…",
    open: "Connected",
    reconnecting: "Reconnecting…",
  };
  hub.onStatus((state) => {
    status.dataset.state = state;
    status.querySelector(".connection-text").textContent = words[state] || state;
  });

  updateCounter();
  scrollToLatest();
  if (window.location.hash.startsWith("#message-")) document.querySelector(window.location.hash)?.scrollIntoView({ block: "center" });
}
