// The page a node serves at `/`: sign in as a test user (the development token endpoint), list
// conversations with unread counts, start a DM or a group, send, and see typing, read receipts
// and presence, all through the TypeScript client. Each tab keeps its own user (sessionStorage),
// so two tabs, on two nodes, are two people talking.
import {
  ChatwireClient,
  ChatwireRest,
  type ConversationView,
  type DomainEvent,
  type Message,
  type User,
} from "../../typescript/src/index.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = (tag: string, cls?: string, text?: string) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

interface Session {
  token: string;
  user: User;
}

let rest: ChatwireRest;
let client: ChatwireClient;
let me: User;
let views = new Map<number, ConversationView>();
let current: number | null = null;
const shown = new Map<number, Message[]>();
/** The other members' read watermark per conversation: own messages at or below it are read. */
const readUpTo = new Map<number, number>();
const typingNow = new Map<number, Map<string, number>>();
/** Seqs of others' messages that arrived live in conversations not open: a list fetched before
 * they were stored does not count them yet. */
const liveUnread = new Map<number, number[]>();
const online = new Map<string, boolean>();

async function signIn(username: string): Promise<Session> {
  const response = await fetch("/api/v1/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username }),
  });
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || !body.token) {
    // A production node has no such endpoint: sign-in belongs to the real identity provider.
    throw new Error(response.status === 404 ? "this node mints no test tokens (production mode)" : (body.message ?? `sign-in refused (${response.status})`));
  }
  const user = await new ChatwireRest({ baseUrl: location.origin, token: body.token }).me();
  return { token: body.token, user };
}

function nameOf(view: ConversationView): string {
  if (view.conversation.kind === "group") return view.conversation.title || "group";
  const other = view.members.find((m) => String(m.user.id) !== String(me.id));
  return other ? other.user.display_name || other.user.username : "(just you)";
}

function peerOf(view: ConversationView): string | undefined {
  if (view.conversation.kind !== "dm") return undefined;
  const other = view.members.find((m) => String(m.user.id) !== String(me.id));
  return other ? String(other.user.id) : undefined;
}

async function refreshList(): Promise<void> {
  const list = await rest.conversations();
  for (const v of list) {
    v.unread_count += (liveUnread.get(v.conversation.id) ?? []).filter((seq) => seq > v.conversation.last_seq).length;
  }
  views = new Map(list.map((v) => [v.conversation.id, v]));
  const peers = list.map(peerOf).filter((p): p is string => p !== undefined);
  if (peers.length > 0) {
    for (const entry of await rest.presence(peers)) online.set(String(entry.user_id), entry.is_online);
  }
  renderList();
}

function renderList(): void {
  const ul = $("conversations");
  ul.replaceChildren();
  for (const view of views.values()) {
    const li = el("li", view.conversation.id === current ? "selected" : "");
    li.dataset.conversation = String(view.conversation.id);
    const peer = peerOf(view);
    if (peer !== undefined) li.append(el("span", online.get(peer) ? "dot on" : "dot", ""));
    li.append(el("span", "name", nameOf(view)));
    if (view.unread_count > 0 && view.conversation.id !== current) li.append(el("span", "unread", String(view.unread_count)));
    li.onclick = () => void open(view.conversation.id);
    ul.append(li);
  }
}

async function open(conversation: number): Promise<void> {
  current = conversation;
  const history = await rest.messages(conversation, { limit: 100 });
  shown.set(conversation, history);
  client.read(conversation);
  const view = views.get(conversation);
  if (view) view.unread_count = 0;
  liveUnread.delete(conversation);
  $("title").textContent = view ? nameOf(view) : `#${conversation}`;
  $("composer").hidden = false;
  renderList();
  renderMessages();
}

function renderMessages(): void {
  const box = $("messages");
  box.replaceChildren();
  if (current === null) return;
  const upTo = readUpTo.get(current) ?? 0;
  for (const m of shown.get(current) ?? []) {
    if (m.kind === "system") {
      // "carol created the group", "dave joined": the conversation's own history, not a bubble.
      box.append(el("div", "system", m.content));
      continue;
    }
    const mine = String(m.sender?.id) === String(me.id);
    const row = el("div", mine ? "message mine" : "message");
    row.dataset.seq = String(m.seq);
    if (!mine) row.append(el("div", "sender", m.sender?.display_name || m.sender?.username || "system"));
    row.append(el("div", "content", m.content));
    if (mine) row.append(el("div", "status", m.seq <= upTo ? "read" : "sent"));
    box.append(row);
  }
  box.scrollTop = box.scrollHeight;
  renderTyping();
}

function renderTyping(): void {
  const who = current === null ? [] : [...(typingNow.get(current) ?? new Map()).entries()];
  const now = Date.now();
  const names = who.filter(([, until]) => until > now).map(([name]) => name);
  $("typing").textContent = names.length ? `${names.join(", ")} typing…` : "";
}

function onMessage(m: Message): void {
  const list = shown.get(m.conversation_id);
  if (list && !list.some((x) => x.seq === m.seq)) list.push(m);
  const view = views.get(m.conversation_id);
  if (!view) {
    void refreshList();
  } else if (m.conversation_id === current) {
    if (String(m.sender?.id) !== String(me.id)) client.read(m.conversation_id, m.seq);
  }
  if (m.conversation_id !== current && String(m.sender?.id) !== String(me.id) && m.kind !== "system") {
    if (view) view.unread_count += 1;
    liveUnread.set(m.conversation_id, [...(liveUnread.get(m.conversation_id) ?? []), m.seq]);
  }
  typingNow.get(m.conversation_id)?.delete(m.sender?.display_name || m.sender?.username || "");
  renderList();
  if (m.conversation_id === current) renderMessages();
}

function onEvent(event: DomainEvent): void {
  switch (event.type) {
    case "typing": {
      if (String(event.user.id) === String(me.id)) return;
      const name = event.user.display_name || event.user.username;
      let map = typingNow.get(event.conversation_id);
      if (!map) typingNow.set(event.conversation_id, (map = new Map()));
      if (event.is_typing) map.set(name, Date.now() + 6000);
      else map.delete(name);
      renderTyping();
      return;
    }
    case "read": {
      if (String(event.user.id) === String(me.id)) return;
      readUpTo.set(event.conversation_id, Math.max(readUpTo.get(event.conversation_id) ?? 0, event.seq));
      if (event.conversation_id === current) renderMessages();
      return;
    }
    case "presence":
      online.set(String(event.user.id), event.is_online);
      renderList();
      return;
    case "conversation_joined":
    case "conversation_updated":
    case "member_added":
    case "member_removed":
    case "conversation_left":
      void refreshList();
      return;
  }
}

async function start(session: Session): Promise<void> {
  me = session.user;
  rest = new ChatwireRest({ baseUrl: location.origin, token: session.token });
  client = new ChatwireClient({ url: location.origin, token: session.token });
  client.on("message", onMessage);
  client.on("event", onEvent);
  client.on("hello", (hello) => ($("node").textContent = `node ${hello.node}`));
  client.on("state", (state) => {
    $("state").textContent = state;
    $("state").className = `state ${state}`;
    if (state === "open") {
      // After a reconnect the list and the open conversation may have moved on.
      void refreshList().then(async () => {
        if (current !== null) await open(current);
      });
    }
  });
  $("signin").hidden = true;
  $("app").hidden = false;
  $("me").textContent = me.display_name || me.username;
  await client.connect();
}

function wire(): void {
  $<HTMLFormElement>("signin-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const name = $<HTMLInputElement>("username").value.trim();
    try {
      const session = await signIn(name);
      sessionStorage.setItem("chatwire-session", JSON.stringify(session));
      await start(session);
    } catch (err) {
      $("signin-error").textContent = String((err as Error).message);
    }
  };
  $<HTMLFormElement>("dm-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const name = $<HTMLInputElement>("dm-user").value.trim();
    const found = (await rest.searchUsers(name)).find((u) => u.username === name);
    if (!found) {
      $("new-error").textContent = `no user ${name} yet: they sign in once first`;
      return;
    }
    $("new-error").textContent = "";
    const view = await rest.openDm(found.id);
    await refreshList();
    await open(view.conversation.id);
  };
  $<HTMLFormElement>("group-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const names = $<HTMLInputElement>("group-users").value.split(",").map((s) => s.trim()).filter(Boolean);
    const ids = [];
    for (const name of names) {
      const found = (await rest.searchUsers(name)).find((u) => u.username === name);
      if (found) ids.push(found.id);
    }
    const view = await rest.createGroup($<HTMLInputElement>("group-title").value || "group", ids);
    await refreshList();
    await open(view.conversation.id);
  };
  let typingSent = 0;
  const input = $<HTMLInputElement>("text");
  input.oninput = () => {
    if (current !== null && Date.now() - typingSent > 2000) {
      typingSent = Date.now();
      client.typing(current, true);
    }
  };
  $<HTMLFormElement>("composer").onsubmit = async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || current === null) return;
    input.value = "";
    typingSent = 0;
    client.typing(current, false);
    await client.send(current, text);
  };
  setInterval(renderTyping, 1000);
  const saved = sessionStorage.getItem("chatwire-session");
  if (saved) void start(JSON.parse(saved) as Session);
}

wire();
