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

import { hub } from "../hubbub.js";

const lists = [...document.querySelectorAll("ul[data-room-links]")];

const linkIn = (list, url) => list.querySelector(`a.room-link[href="${CSS.escape(url)}"]`);

function item(list, room) {
  const link = document.createElement("a");
  link.className = "room-link";
  link.href = room.url;
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
