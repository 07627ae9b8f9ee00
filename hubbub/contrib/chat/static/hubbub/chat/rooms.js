// Room lists (a room page's sidebar, the rooms page, the lobby) kept live from the hub: a new
// public room appears in every list (announced on the room directory's topic), a private
// room in the lists of a member just added to it, and leaves them when they are removed
// (announced on the user's own chat topic). A room renamed takes its new name in place, an
// archived or deleted one leaves every list (chat.room.changed, chat.room.deleted: to the
// directory for a public room, to each member's topic for a private one). Each list is a ul[data-room-links] naming both
// topics (chat/_room_links.html). A list is of rooms or of direct conversations (data-kind): a
// room joins only the lists of its kind, named (for direct ones) by the other people in it.
//
// Replays are harmless: a room is listed once, by its URL. Names go in through textContent.
//
// Unread counts: each room the user has viewed comes with its state from the server (how far
// they read, how many messages of others are left, the newest message id counted and the time
// it was read: data-unread). Messages of others that arrive with a higher id add to it, once
// each (a replay of one already counted does not); a deletion takes one back, or asks the server
// again if it was counted there. A state from the user's own topic (chat.read: a page of theirs
// marked the room read) replaces an older one. The tab's title starts with the total.

import { hub } from "../hubbub.js";

const lists = [...document.querySelectorAll("ul[data-room-links]")];
const me = lists[0]?.dataset.me;

const linkIn = (list, url) => list.querySelector(`a.room-link[href="${CSS.escape(url)}"]`);

function item(list, room) {
  const link = document.createElement("a");
  link.className = "room-link";
  link.href = room.url;
  link.dataset.slug = room.slug;
  const hash = document.createElement("span");
  hash.className = "room-hash";
  hash.setAttribute("aria-hidden", "true");
  if (room.direct) hash.textContent = "@";
  else if (room.private) hash.append(list.querySelector("template[data-room-lock]").content.cloneNode(true));
  else hash.textContent = "#";
  const name = document.createElement("span");
  name.className = "room-name";
  name.textContent = room.name;
  link.append(hash, name);
  if (room.private) {
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = room.direct ? " (direct messages)" : " (private)";
    link.append(hint);
  }
  const li = document.createElement("li");
  li.append(link);
  return li;
}

function shown(list) {
  // A list shown only while it has rooms (the lobby's) sits in an element that says so.
  list.closest("[data-hidden-without-rooms]")?.toggleAttribute("hidden", !list.querySelector("li"));
}

function add(list, room) {
  if (linkIn(list, room.url) || (list.dataset.kind === "direct") !== Boolean(room.direct)) return;
  insertSorted(list, item(list, room), room.name);
}

function insertSorted(list, li, name) {
  const later = [...list.querySelectorAll(":scope > li")].find(
    (li) => li.querySelector(".room-name")?.textContent.localeCompare(name, undefined, { sensitivity: "base" }) > 0,
  );
  list.insertBefore(li, later || list.querySelector(":scope > template"));
  shown(list);
}

function change(list, room) {
  if (room.archived) return remove(list, room);
  const link = linkIn(list, room.url);
  if (!link) return add(list, room);
  const li = link.closest("li");
  link.querySelector(".room-name").textContent = room.name;
  li.remove();
  insertSorted(list, li, room.name);
}

function remove(list, room) {
  linkIn(list, room.url)?.closest("li")?.remove();
  shown(list);
}

for (const list of lists) {
  hub.subscribe(list.dataset.roomsTopic);
  hub.subscribe(list.dataset.userTopic);
}
if (lists.length) {
  hub.on("chat.room", (room) => {
    if (room?.url && room.name) for (const list of lists) add(list, room);
  });
  hub.on("chat.room.removed", (room) => {
    if (room?.url) for (const list of lists) remove(list, room);
  });
  hub.on("chat.room.deleted", (room) => {
    if (room?.url) for (const list of lists) remove(list, room);
  });
  hub.on("chat.room.changed", (room) => {
    if (room?.url && room.name) for (const list of lists) change(list, room);
  });
}

// Unread counts.

const unread = new Map(); // slug -> { last_read, unread, newest, at, extra: Set of ids counted here }
const baseTitle = () => document.title.replace(/^\(\d+\) /, "");

function linksTo(slug) {
  return lists.flatMap((list) => [...list.querySelectorAll(`a.room-link[data-slug="${CSS.escape(slug)}"]`)]);
}

function showUnread(slug) {
  const state = unread.get(slug);
  const count = state ? state.unread + state.extra.size : 0;
  for (const link of linksTo(slug)) {
    let badge = link.querySelector(".unread-count");
    let label = link.querySelector(".unread-label");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "unread-count";
      badge.setAttribute("aria-hidden", "true");
      label = document.createElement("span");
      label.className = "visually-hidden unread-label";
      link.append(badge, label);
    }
    badge.textContent = String(count);
    label.textContent = ` (${count} unread)`;
    badge.hidden = label.hidden = count === 0;
  }
  const total = [...unread.values()].reduce((sum, each) => sum + each.unread + each.extra.size, 0);
  const title = baseTitle();
  document.title = total ? `(${total}) ${title}` : title;
}

function track(slug, state) {
  if (!state || !(Number(state.unread) >= 0)) return;
  const known = unread.get(slug);
  if (known && Number(state.at) < known.at) return; // older than what is shown
  const newest = Number(state.newest) || 0;
  const extra = new Set([...(known?.extra || [])].filter((id) => id > newest));
  unread.set(slug, { last_read: Number(state.last_read) || 0, unread: Number(state.unread), newest, at: Number(state.at), extra });
  if (!known) hub.subscribe(`${lists[0].dataset.roomTopicPrefix}${slug}`);
  showUnread(slug);
}

// A message of this room, on its page while shown, is read at once (chat.js marks it so).
function readingNow(slug) {
  const current = document.querySelector("[data-chat-room]");
  return current?.dataset.room === slug && document.visibilityState === "visible";
}

async function refresh(slug, url) {
  try {
    const response = await fetch(`${url}read/`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.ok) track(slug, (await response.json()).state);
  } catch (error) {
    // the next event or page load brings it
  }
}

if (lists.length) {
  for (const link of lists.flatMap((list) => [...list.querySelectorAll("a.room-link[data-unread]")])) {
    try {
      if (!unread.has(link.dataset.slug)) track(link.dataset.slug, JSON.parse(link.dataset.unread));
    } catch (error) {
      // a state that does not parse: no count
    }
  }
  // A private room just joined counts from the moment of joining (the server made its marker).
  hub.on("chat.room", (room) => {
    if (room?.private && room.slug && room.url && !unread.has(room.slug)) refresh(room.slug, room.url);
  });
  hub.on("chat.read", (data) => {
    if (data?.room && linksTo(data.room).length) track(data.room, data);
  });
  hub.on("chat.message", (message) => {
    const state = unread.get(message?.room);
    const id = Number(message?.id);
    if (!state || message.author === me || !(id > state.newest) || state.extra.has(id) || readingNow(message.room)) return;
    state.extra.add(id);
    showUnread(message.room);
  });
  for (const type of ["chat.message.deleted", "chat.deleted"]) {
    hub.on(type, (data) => {
      const state = unread.get(data?.room);
      const id = Number(data?.id);
      if (!state) return;
      if (state.extra.delete(id)) showUnread(data.room);
      else if (id > state.last_read && id <= state.newest && state.unread > 0) {
        const link = linksTo(data.room)[0];
        if (link) refresh(data.room, link.getAttribute("href"));
      }
    });
  }
}
