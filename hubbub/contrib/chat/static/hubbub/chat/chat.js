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
  // A page opened around a message (a search result, ?around=<id>) may not reach the latest:
  // newer pages come on scrolling down, and live messages past it wait until they have.
  let hasNewer = root.dataset.hasNewer === "true";
  const waiting = new Map();

  const manages = root.dataset.manages === "true";
  const archived = root.dataset.archived === "true";

  // Its author edits and deletes a message (not in an archived room); the room's owner and staff delete any.
  function decorate(item) {
    const own = item.dataset.author === me;
    item.classList.toggle("message--own", own);
    showTime(item.querySelector("time"));
    showEdited(item);
    const actions = item.querySelector(".message-actions");
    if (actions) {
      const canEdit = own && !archived;
      const canDelete = manages || canEdit;
      actions.querySelector('[data-action="react"]').hidden = archived;
      actions.querySelector('[data-action="edit"]').hidden = !canEdit;
      actions.querySelector('[data-action="delete"]').hidden = !canDelete;
      actions.hidden = archived && !canDelete;
    }
    if (item.dataset.reactions) {
      let reactions = [];
      try {
        reactions = JSON.parse(item.dataset.reactions);
      } catch (error) {
        reactions = [];
      }
      delete item.dataset.reactions;
      showReactions(item, reactions, Number(item.dataset.reactionsAt ?? root.dataset.serverTime));
    }
    return item;
  }

  // Reactions: a message's whole set comes with the time it was read; an older set is ignored.
  // Each emoji someone chose is a toggle button: its count, and who in its label and title.
  function showReactions(item, reactions, at) {
    if (!Array.isArray(reactions) || !(at >= Number(item.dataset.reactionsAt || 0))) return;
    item.dataset.reactionsAt = String(at);
    const row = item.querySelector(".message-reactions");
    if (!row) return;
    const focused = row.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
    row.replaceChildren(...reactions.filter((reaction) => reaction && Array.isArray(reaction.users) && reaction.users.length).map((reaction) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "reaction";
      button.dataset.emoji = String(reaction.emoji);
      const mine = reaction.users.includes(me);
      button.setAttribute("aria-pressed", String(mine));
      const names = reaction.users.join(", ");
      button.title = names;
      button.setAttribute("aria-label", `${reaction.emoji} ${reaction.users.length}: ${names}`);
      const emoji = document.createElement("span");
      emoji.className = "reaction-emoji";
      emoji.setAttribute("aria-hidden", "true");
      emoji.textContent = String(reaction.emoji);
      const count = document.createElement("span");
      count.className = "reaction-count";
      count.setAttribute("aria-hidden", "true");
      count.textContent = String(reaction.users.length);
      button.append(emoji, count);
      button.disabled = archived;
      return button;
    }));
    row.hidden = row.childElementCount === 0;
    if (focused) row.querySelector(`[data-emoji="${CSS.escape(focused)}"]`)?.focus();
  }

  async function toggleReaction(item, emoji) {
    actionError(item, "");
    try {
      const response = await post(messageUrl(item, "reactions"), { emoji });
      const body = await response.json().catch(() => null);
      if (response.ok && body) showReactions(item, body.reactions, Number(body.at));
      else actionError(item, body?.error || `The reaction was not saved: the server answered ${response.status}.`);
    } catch (error) {
      actionError(item, "Could not reach the server: the reaction was not saved.");
    }
  }

  function closePicker(item, { focus = false } = {}) {
    const picker = item.querySelector(".reaction-picker");
    if (!picker) return;
    picker.remove();
    const button = item.querySelector('[data-action="react"]');
    button.setAttribute("aria-expanded", "false");
    item.querySelector(".message-actions").classList.remove("message-actions--busy");
    if (focus) button.focus();
  }

  function openPicker(item) {
    if (item.querySelector(".reaction-picker")) return closePicker(item, { focus: true });
    const picker = document.createElement("div");
    picker.className = "reaction-picker";
    picker.setAttribute("role", "group");
    picker.setAttribute("aria-label", "Choose a reaction");
    for (const emoji of (root.dataset.emoji || "").split(" ").filter(Boolean)) {
      const choice = document.createElement("button");
      choice.type = "button";
      choice.className = "reaction-choice";
      choice.dataset.emoji = emoji;
      choice.setAttribute("aria-label", `React with ${emoji}`);
      choice.textContent = emoji;
      picker.append(choice);
    }
    picker.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closePicker(item, { focus: true });
      }
    });
    const actions = item.querySelector(".message-actions");
    actions.classList.add("message-actions--busy");
    actions.after(picker);
    item.querySelector('[data-action="react"]').setAttribute("aria-expanded", "true");
    picker.firstElementChild?.focus();
  }

  function showEdited(item) {
    const marker = item.querySelector(".message-edited");
    if (!marker) return;
    const when = new Date(item.dataset.edited || "");
    marker.hidden = Number.isNaN(when.getTime());
    if (!marker.hidden) marker.title = `Edited ${full.format(when)}`;
  }

  function fill(text, message) {
    if (typeof message.html === "string") {
      const parsed = document.createElement("template");
      parsed.innerHTML = message.html;
      text.replaceChildren(parsed.content);
    } else {
      text.textContent = message.text;
    }
  }

  for (const item of list.querySelectorAll(".message")) shown.set(Number(item.dataset.id), decorate(item));
  regroup();

  // A message from the hub or a history page; ``reactions`` (read at ``at``) from a history page.
  function render(message, { reactions = [], at = 0 } = {}) {
    const item = messageTemplate.content.firstElementChild.cloneNode(true);
    item.dataset.reactions = JSON.stringify(reactions);
    item.dataset.reactionsAt = String(at);
    item.id = `message-${message.id}`;
    item.dataset.id = String(message.id);
    item.dataset.author = message.author;
    const avatar = item.querySelector(".avatar");
    avatar.textContent = message.author.slice(0, 1).toUpperCase();
    avatar.dataset.hubbubHue = String(hue(message.author));
    item.querySelector(".message-author").textContent = message.author;
    item.querySelector("time").dateTime = message.created;
    item.dataset.edited = message.edited || "";
    item.dataset.text = message.text;
    const text = item.querySelector(".message-text");
    fill(text, message);
    if (message.attachment?.url) text.after(attachmentOf(message.attachment));
    return decorate(item);
  }

  // An edit (live, replayed, or this page's own): applied to a message shown with an older one.
  function applyEdit(message) {
    const item = shown.get(Number(message.id));
    const when = Date.parse(message.edited);
    if (!item || Number.isNaN(when)) return;
    const before = Date.parse(item.dataset.edited || "");
    if (!Number.isNaN(before) && when <= before) return;
    item.dataset.edited = message.edited;
    item.dataset.text = message.text;
    fill(item.querySelector(".message-text"), message);
    showEdited(item);
  }

  function drop(id) {
    deleted.add(id);
    const item = shown.get(id);
    if (item?.contains(document.activeElement)) textarea.focus();
    item?.remove();
    shown.delete(id);
    regroup();
  }

  // A message's file, as chat/_attachment.html draws it: an image's thumbnail, and the file's link.
  function attachmentOf(file) {
    const box = document.createElement("div");
    box.className = "message-attachment";
    if (file.image && file.thumbnail) {
      const link = document.createElement("a");
      link.className = "attachment-image";
      link.href = file.url;
      const image = document.createElement("img");
      image.src = file.thumbnail;
      image.alt = String(file.name);
      image.loading = "lazy";
      if (file.width && file.height) {
        image.width = Number(file.width);
        image.height = Number(file.height);
      }
      link.append(image);
      box.append(link);
    }
    const link = document.createElement("a");
    link.className = "attachment-file";
    link.href = file.url;
    link.download = String(file.name);
    const name = document.createElement("span");
    name.className = "attachment-name";
    name.textContent = String(file.name);
    const size = document.createElement("span");
    size.className = "attachment-size";
    size.textContent = sizeInWords(Number(file.size));
    link.append(name, " ", size);
    box.append(link);
    return box;
  }

  function sizeInWords(bytes) {
    // As Django's filesizeformat: 1 KB is 1024 bytes, one decimal.
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    if (unit === 0) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
    return `${value.toFixed(1)}\u00a0${units[unit]}`;
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

  function newestShown() {
    const messages = list.querySelectorAll(".message");
    return messages.length ? Number(messages[messages.length - 1].dataset.id) : null;
  }

  // Insert a live message in id order; returns false if it is already shown (a replay).
  function insert(message, { mine = false } = {}) {
    const id = Number(message.id);
    if (shown.has(id) || deleted.has(id)) return false;
    const oldest = oldestShown();
    if (hasMore && oldest !== null && id < oldest) return false; // older pages will bring it
    if (hasNewer) {
      waiting.set(id, message); // after the newer pages, unless one of them brings it
      return false;
    }
    const follow = mine || isNearBottom();
    const item = render(message);
    item.classList.add("message--live");
    const messages = list.querySelectorAll(".message");
    let index = messages.length - 1;
    while (index >= 0 && Number(messages[index].dataset.id) > id) index--;
    if (index >= 0) messages[index].after(item);
    else list.prepend(item);
    shown.set(id, item);
    if (!mine && message.author !== me && document.visibilityState !== "visible") markUnreadFrom(item);
    regroup();
    stopTyping(message.author);
    if (follow) scrollToLatest();
    else jumpButton.hidden = false;
    scheduleRead();
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
  hub.on("chat.message.reactions", (data) => {
    const item = data && data.room === slug ? shown.get(Number(data.id)) : null;
    if (item) showReactions(item, data.reactions, Number(data.at));
  });
  hub.on("chat.message.edited", (message) => {
    if (message && message.room === slug) applyEdit(message);
  });
  // chat.message.deleted: by its author or a moderator (kept in the database); chat.deleted: its row deleted.
  for (const type of ["chat.message.deleted", "chat.deleted"]) {
    hub.on(type, (data) => {
      if (data && data.room === slug) drop(Number(data.id));
    });
  }

  jumpButton.addEventListener("click", () => {
    if (hasNewer) {
      window.location.assign(root.dataset.roomUrl); // the latest page, rather than every page up to it
      return;
    }
    scrollToLatest();
    textarea.focus();
  });
  scroller.addEventListener("scroll", () => {
    if (isNearBottom() && !hasNewer) jumpButton.hidden = true;
  }, { passive: true });

  // Unread: a "New messages" line before the first message of others the person had not seen
  // (where they left off, or the first to arrive while the page is hidden), and the room marked
  // read up to the newest message shown whenever the page is visible (rooms.js shows the counts).

  let readUpTo = root.dataset.lastRead === "" ? null : Number(root.dataset.lastRead);
  let readTimer = null;

  function markUnreadFrom(item) {
    if (list.querySelector(".unread-separator")) return;
    const line = document.createElement("li");
    line.className = "unread-separator";
    line.setAttribute("role", "separator");
    line.setAttribute("aria-label", "New messages");
    const label = document.createElement("span");
    label.className = "unread-separator-label";
    label.textContent = "New messages";
    line.append(label);
    item.before(line);
  }

  function newestShown() {
    const messages = list.querySelectorAll(".message");
    return messages.length ? Number(messages[messages.length - 1].dataset.id) : 0;
  }

  async function markRead() {
    readTimer = null;
    if (document.visibilityState !== "visible" || !root.dataset.readUrl) return;
    const last = newestShown();
    if (readUpTo !== null && last <= readUpTo) return;
    const before = readUpTo;
    readUpTo = last;
    try {
      const response = await post(root.dataset.readUrl, { last: String(last) });
      if (!response.ok) readUpTo = before;
    } catch (error) {
      readUpTo = before;
    }
  }

  function scheduleRead() {
    if (readTimer === null) readTimer = setTimeout(markRead, 300);
  }

  if (readUpTo !== null) {
    const first = [...list.querySelectorAll(".message")].find((item) => Number(item.dataset.id) > readUpTo && item.dataset.author !== me);
    if (first) markUnreadFrom(first);
  }
  document.addEventListener("visibilitychange", scheduleRead);

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
        const item = render(message, { reactions: message.reactions, at: Number(body.at) });
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

  // Editing and deleting: Edit opens the text in place (Enter or Save saves, Escape or Cancel
  // cancels); Delete asks in place first. The server's answer, and the event to every page, show it.

  function messageUrl(item, action) {
    return `${urls.messages}${item.dataset.id}/${action}/`;
  }

  function closeEditor(item, { focus = true } = {}) {
    item.querySelector(".message-editor")?.remove();
    item.querySelector(".message-confirm")?.remove();
    item.querySelector(".message-text").hidden = false;
    item.querySelector(".message-actions").classList.remove("message-actions--busy");
    if (focus) item.querySelector('.message-action:not([hidden])')?.focus();
  }

  function actionError(item, text) {
    let box = item.querySelector(".message-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "message-error";
      box.setAttribute("role", "alert");
      item.querySelector(".message-body").append(box);
    }
    box.textContent = text;
    box.hidden = !text;
  }

  function openEditor(item) {
    closeEditor(item, { focus: false });
    actionError(item, "");
    const editor = document.createElement("form");
    editor.className = "message-editor";
    const box = document.createElement("textarea");
    box.className = "message-editor-text";
    box.setAttribute("aria-label", "Edit message");
    box.rows = Math.min(8, (item.dataset.text || "").split("\n").length + 1);
    box.value = item.dataset.text ?? item.querySelector(".message-text").textContent;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button button--primary";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button button--quiet";
    cancel.textContent = "Cancel";
    const hint = document.createElement("p");
    hint.className = "message-editor-hint";
    hint.textContent = "Enter to save · Escape to cancel";
    const buttons = document.createElement("div");
    buttons.className = "message-editor-buttons";
    buttons.append(save, cancel, hint);
    editor.append(box, buttons);
    item.querySelector(".message-text").hidden = true;
    item.querySelector(".message-body").append(editor);
    cancel.addEventListener("click", () => closeEditor(item));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeEditor(item);
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!box.value.trim()) {
        actionError(item, "Write something, or delete the message instead.");
        return;
      }
      save.disabled = true;
      try {
        const response = await post(messageUrl(item, "edit"), { text: box.value });
        const body = await response.json().catch(() => null);
        if (response.ok && body?.message) {
          applyEdit(body.message);
          actionError(item, "");
          closeEditor(item);
        } else {
          actionError(item, body?.error || `The edit was not saved: the server answered ${response.status}.`);
        }
      } catch (error) {
        actionError(item, "Could not reach the server: the edit was not saved.");
      } finally {
        save.disabled = false;
      }
    });
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  function confirmDelete(item) {
    closeEditor(item, { focus: false });
    actionError(item, "");
    const confirm = document.createElement("div");
    confirm.className = "message-confirm";
    confirm.setAttribute("role", "group");
    confirm.setAttribute("aria-label", "Delete this message?");
    const question = document.createElement("span");
    question.textContent = "Delete this message?";
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "button button--danger";
    yes.textContent = "Yes, delete";
    const no = document.createElement("button");
    no.type = "button";
    no.className = "button button--quiet";
    no.textContent = "Cancel";
    confirm.append(question, yes, no);
    item.querySelector(".message-body").append(confirm);
    item.querySelector(".message-actions").classList.add("message-actions--busy");
    no.addEventListener("click", () => closeEditor(item));
    confirm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeEditor(item);
      }
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        const response = await post(messageUrl(item, "delete"), {});
        if (response.ok) {
          drop(Number(item.dataset.id));
          return;
        }
        const body = await response.json().catch(() => null);
        actionError(item, body?.error || `The message was not deleted: the server answered ${response.status}.`);
        closeEditor(item);
      } catch (error) {
        actionError(item, "Could not reach the server: the message was not deleted.");
      } finally {
        yes.disabled = false;
      }
    });
    no.focus();
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".message-action, .reaction, .reaction-choice");
    const item = button?.closest(".message");
    if (!item || !list.contains(item)) return;
    if (button.classList.contains("reaction")) toggleReaction(item, button.dataset.emoji);
    else if (button.classList.contains("reaction-choice")) {
      closePicker(item, { focus: true });
      toggleReaction(item, button.dataset.emoji);
    } else if (button.dataset.action === "react") openPicker(item);
    else if (button.dataset.action === "edit") openEditor(item);
    else if (button.dataset.action === "delete") confirmDelete(item);
  });

  // Newer pages, on a page opened around a message: on scrolling to the bottom, or with the button.

  const newerButton = document.getElementById("load-newer");
  let loadingNewer = false;

  async function loadNewer() {
    if (loadingNewer || !hasNewer) return;
    const newest = newestShown();
    if (newest === null) return;
    loadingNewer = true;
    newerButton.disabled = true;
    newerButton.textContent = "Loading newer messages…";
    try {
      const response = await fetch(`${urls.messages}?after=${newest}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
      const page = document.createDocumentFragment();
      for (const message of body.messages) {
        const id = Number(message.id);
        waiting.delete(id);
        if (shown.has(id) || deleted.has(id) || id <= newest) continue;
        const item = render(message, { reactions: message.reactions, at: Number(body.at) });
        shown.set(id, item);
        page.append(item);
      }
      list.append(page);
      hasNewer = body.has_more;
      if (!hasNewer) {
        // Up to date: what came live meanwhile goes in now (once; a page may have brought it).
        const late = [...waiting.values()].sort((a, b) => Number(a.id) - Number(b.id));
        waiting.clear();
        for (const message of late) insert(message);
        jumpButton.hidden = true;
        jumpButton.textContent = jumpText;
      }
      regroup();
      newerButton.textContent = "Load newer messages";
    } catch (error) {
      newerButton.textContent = "Could not load newer messages. Try again";
    } finally {
      loadingNewer = false;
      newerButton.disabled = false;
      newerButton.parentElement.hidden = !hasNewer;
    }
  }

  const jumpText = jumpButton.textContent;
  if (newerButton) {
    newerButton.addEventListener("click", loadNewer);
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadNewer();
    }, { root: scroller, rootMargin: "0px 0px 200px 0px" }).observe(newerButton);
  }

  // Posting.

  function showError(text) {
    errorBox.textContent = text;
    form.classList.toggle("composer--error", Boolean(text));
  }

  function statusInWords(status) {
    if (status === 401) return "Your session has ended: reload the page to sign in again. Your message is still in the box.";
    if (status === 403) return "The server refused the message (403): reload the page and try again. Your message is still in the box.";
    if (status === 413) return `Your message or its file is too large: the limit is ${maxLength} characters.`;
    if (status === 429) return "You are sending messages too fast. Wait a moment and send again.";
    return `The message was not sent: the server answered ${status}. Try again in a moment.`;
  }

  function updateCounter() {
    const length = textarea.value.trim().length;
    const near = length > maxLength * 0.8;
    counter.textContent = near ? ` · ${length} / ${maxLength}` : "";
    counter.classList.toggle("composer-count--over", length > maxLength);
  }

  // A file: the attach button (a label of the file input), pasted or dropped in the composer.
  // One per message; its name shows above the box until it is sent or removed.

  const fileInput = document.getElementById("attach-input");
  const fileLine = document.getElementById("composer-file");
  const fileName = document.getElementById("composer-file-name");
  const maxUpload = Number(root.dataset.maxUploadBytes);

  function chosenFile() {
    return fileInput.files && fileInput.files.length ? fileInput.files[0] : null;
  }

  function showFile() {
    const file = chosenFile();
    fileLine.hidden = !file;
    fileName.textContent = file ? `${file.name} (${sizeInWords(file.size)})` : "";
    if (file && maxUpload && file.size > maxUpload) {
      showError(`“${file.name}” is ${sizeInWords(file.size)}; the limit is ${sizeInWords(maxUpload)}.`);
    } else if (file) {
      showError("");
    }
  }

  function takeFile(file) {
    if (!file || fileInput.disabled) return;
    const transfer = new DataTransfer();
    transfer.items.add(file);
    fileInput.files = transfer.files;
    showFile();
    textarea.focus();
  }

  function dropFile() {
    fileInput.value = "";
    showFile();
  }

  fileInput.addEventListener("change", showFile);
  document.getElementById("composer-file-remove").addEventListener("click", () => {
    dropFile();
    showError("");
    textarea.focus();
  });
  textarea.addEventListener("paste", (event) => {
    const file = event.clipboardData?.files?.[0];
    if (file) {
      event.preventDefault();
      takeFile(file);
    }
  });
  form.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types?.includes("Files")) {
      event.preventDefault();
      form.classList.add("composer--drop");
    }
  });
  form.addEventListener("dragleave", () => form.classList.remove("composer--drop"));
  form.addEventListener("drop", (event) => {
    form.classList.remove("composer--drop");
    const file = event.dataTransfer?.files?.[0];
    if (file) {
      event.preventDefault();
      takeFile(file);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value;
    const file = chosenFile();
    if (file && maxUpload && file.size > maxUpload) {
      showError(`“${file.name}” is ${sizeInWords(file.size)}; the limit is ${sizeInWords(maxUpload)}. Remove it or choose a smaller one.`);
      return;
    }
    if (!text.trim() && !file) {
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
        if (chosenFile() === file) dropFile();
        typingSent = 0;
        showError("");
        updateCounter();
        list.querySelector(".unread-separator")?.remove();
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
    const message = item.querySelector(".person-message");
    if (name === me) {
      message?.remove();
      const you = document.createElement("span");
      you.className = "person-you";
      you.textContent = " (you)";
      item.append(you);
    } else if (message) {
      // Starts (or reopens) a direct conversation with this person.
      message.querySelector("input[name=to]").value = name;
      const button = message.querySelector("button");
      button.setAttribute("aria-label", `Message ${name}`);
      button.title = `Send ${name} a direct message`;
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
  markRead();
  const target = root.dataset.around ? shown.get(Number(root.dataset.around)) : null;
  if (target) {
    target.classList.add("message--target");
    target.scrollIntoView({ block: "center" });
  } else {
    scrollToLatest();
    if (window.location.hash.startsWith("#message-")) document.querySelector(window.location.hash)?.scrollIntoView({ block: "center" });
    else {
      // More new messages than fit: start where the person left off.
      const line = list.querySelector(".unread-separator");
      if (line && line.getBoundingClientRect().top < scroller.getBoundingClientRect().top) line.scrollIntoView({ block: "start" });
    }
  }
  if (hasNewer) {
    jumpButton.textContent = "Jump to the latest messages ↓";
    jumpButton.hidden = false;
  }
}
