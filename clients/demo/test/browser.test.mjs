// The demo page in a real browser (Debian's chromium driven by playwright-core) on the local
// cluster (deploy/local/run.sh: three nodes behind nginx): two people on two nodes talk; the
// receiver's node is SIGKILLed; the page reconnects through nginx to another node and shows what
// was sent meanwhile, once each, in order. Screenshots go to target/screenshots/ (to
// docs/screenshots/ with CHATWIRE_UPDATE_DOCS=1).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { SECRET, startCluster, token } from "../../typescript/test/harness.mjs";

const root = fileURLToPath(new URL("../../../", import.meta.url));
// The README's pictures are refreshed on request only, so a test run leaves the tree as it was.
const shots = process.env.CHATWIRE_UPDATE_DOCS ? join(root, "docs", "screenshots") : join(root, "target", "screenshots");
const admin = ["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"];

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

let env;
let lb;
let nodePort;
let runDir;
let db;
let browser;

const script = (...args) => execFileSync("bash", [join(root, "deploy/local/run.sh"), ...args], { env, stdio: ["ignore", "ignore", "inherit"] });

before(async () => {
  db = `chatwire_browser_${randomUUID().replaceAll("-", "")}`;
  execFileSync("psql", [...admin, `CREATE DATABASE ${db}`]);
  runDir = join(tmpdir(), `chatwire-browser-${randomUUID()}`);
  lb = await freePort();
  // Three consecutive free ports for the nodes.
  for (;;) {
    nodePort = 20000 + Math.floor(Math.random() * 20000);
    const taken = await Promise.all([0, 1, 2].map((i) => portTaken(nodePort + i)));
    if (!taken.some(Boolean)) break;
  }
  env = {
    ...process.env,
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db}`,
    REDIS_URL: process.env.CHATWIRE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    CHATWIRE_JWT_SECRET: SECRET,
    CHATWIRE_REDIS_PREFIX: `browser${randomUUID().slice(0, 8)}:`,
    CHATWIRE_LOCAL_RUN_DIR: runDir,
    CHATWIRE_LOCAL_PORT: String(lb),
    CHATWIRE_LOCAL_NODE_PORT: String(nodePort),
    CHATWIRE_BIN: process.env.CHATWIRE_BIN ?? join(root, "target/debug/chatwire"),
    CHATWIRE_WORKERS: "1",
    CHATWIRE_SEND_RATE: "0",
  };
  script("up");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (env) script("down");
  if (runDir) rmSync(runDir, { recursive: true, force: true });
  if (db) execFileSync("psql", [...admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
});

function portTaken(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(true));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
  });
}

/** A page signed in as `name` (the token put where the page keeps its session). */
async function pageAs(id, name) {
  const base = `http://127.0.0.1:${lb}`;
  const jwt = token(id, name);
  const me = await (await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${jwt}` } })).json();
  const context = await browser.newContext({ viewport: { width: 980, height: 560 } });
  await context.addInitScript((session) => sessionStorage.setItem("chatwire-session", session), JSON.stringify({ token: jwt, user: me }));
  const page = await context.newPage();
  await page.goto(base);
  await page.waitForSelector("#state.open");
  return page;
}

/** A page on `base` signed in through its form, as a person would. */
async function signInByName(base, name) {
  const page = await (await browser.newContext({ viewport: { width: 980, height: 560 } })).newPage();
  await page.goto(base);
  await page.fill("#username", name);
  await page.click("#signin-form button");
  await page.waitForSelector("#state.open");
  assert.equal(await page.textContent("#me"), name);
  return page;
}

const nodeOf = async (page) => (await page.textContent("#node"))?.replace(/^node /, "");

test("two pages on two nodes talk, and one follows its node's death to another", async () => {
  const bob = await pageAs(7_100_001, "bob");
  const alice = await pageAs(7_100_002, "alice");
  // nginx balances handshakes round-robin: reload until the two sit on different nodes.
  for (let i = 0; i < 6 && (await nodeOf(alice)) === (await nodeOf(bob)); i++) {
    await alice.reload();
    await alice.waitForSelector("#state.open");
  }
  assert.notEqual(await nodeOf(alice), await nodeOf(bob), "the pages are on different nodes");

  await alice.fill("#dm-user", "bob");
  await alice.click("#dm-form button");
  await alice.waitForSelector("#composer:not([hidden])");
  await alice.fill("#text", "hello bob");
  await alice.press("#text", "Enter");

  // Bob's list shows the DM with one unread; opening it shows the message and marks it read.
  await bob.waitForSelector("#conversations .unread:text('1')");
  mkdirSync(shots, { recursive: true });
  await bob.screenshot({ path: join(shots, "demo-unread.png") });
  await bob.click("#conversations li");
  await bob.waitForSelector(".message .content:text('hello bob')");
  await alice.waitForSelector(".message.mine .status:text('read')");
  await bob.fill("#text", "hi");
  await alice.waitForSelector("#typing:text('bob typing')");
  await alice.screenshot({ path: join(shots, "demo-typing-and-read.png") });
  await bob.press("#text", "Enter");
  await alice.waitForSelector(".message .content:text('hi')");

  // SIGKILL Bob's node (found by asking each node its id), then keep talking.
  const bobNode = await nodeOf(bob);
  let victim;
  for (let n = 1; n <= 3; n++) {
    const health = await (await fetch(`http://127.0.0.1:${nodePort + n - 1}/readyz`)).json();
    if (health.node === bobNode) victim = n;
  }
  assert.ok(victim, `node ${bobNode} among the three`);
  process.kill(Number(readFileSync(join(runDir, `node-${victim}.pid`), "utf8").trim()), "SIGKILL");
  const meanwhile = ["one", "two", "three"].map((w) => `sent while bob's node was down: ${w}`);
  for (const text of meanwhile) {
    await alice.fill("#text", text);
    await alice.press("#text", "Enter");
    await alice.waitForSelector(`.message.mine .content:text("${text}")`);
  }
  await bob.waitForFunction((n) => document.querySelector("#state")?.classList.contains("open") && !document.querySelector("#node")?.textContent?.includes(n), bobNode, { timeout: 20_000 });
  await bob.waitForSelector(`.message .content:text("${meanwhile[2]}")`, { timeout: 20_000 });
  const shown = await bob.$$eval(".message .content", (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, ["hello bob", "hi", ...meanwhile], "each message once, in order, after the move");
  await bob.screenshot({ path: join(shots, "demo-after-node-kill.png") });
  console.log(`browser: bob's node ${victim} SIGKILLed; the page reconnected to ${await nodeOf(bob)} and shows ${shown.length} messages in order`);
});

test("on development nodes the page signs in by name and starts a group", async () => {
  const nodes = await startCluster(2);
  try {
    const dave = await signInByName(nodes.urls[1], "dave");
    const carol = await signInByName(nodes.urls[0], "carol");
    await carol.fill("#group-title", "team");
    await carol.fill("#group-users", "dave");
    await carol.click("#group-form button");
    await carol.waitForSelector("#composer:not([hidden])");
    await carol.fill("#text", "welcome to the team");
    await carol.press("#text", "Enter");
    await dave.waitForSelector("#conversations li:has-text('team') .unread:text('1')");
    await dave.click("#conversations li:has-text('team')");
    await dave.waitForSelector(".message .content:text('welcome to the team')");
    mkdirSync(shots, { recursive: true });
    await dave.screenshot({ path: join(shots, "demo-group.png") });
  } finally {
    await nodes.stop();
  }
});

test("the README's first command, then http://<node>/: a working chat with nothing else running", async () => {
  // `chatwire serve` with no settings: a private Postgres in its folder, the in-process bus, a
  // development secret. Only the ports differ from the README's (8080 and the private
  // Postgres' 54329 may be taken here).
  const dir = join(tmpdir(), `chatwire-readme-${randomUUID()}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CHATWIRE_") && k !== "DATABASE_URL" && k !== "REDIS_URL"));
  const node = spawn(env.CHATWIRE_BIN, ["serve"], { cwd: dir, env: { ...clean, CHATWIRE_BIND: `127.0.0.1:${port}`, CHATWIRE_EMBEDDED_PG_PORT: String(await freePort()) }, stdio: "ignore" });
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      assert.ok(Date.now() < deadline && node.exitCode === null, "the node came up");
      if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const erin = await signInByName(base, "erin");
    const frank = await signInByName(base, "frank");
    await frank.fill("#dm-user", "erin");
    await frank.click("#dm-form button");
    await frank.waitForSelector("#composer:not([hidden])");
    await frank.fill("#text", "hello from the README");
    await frank.press("#text", "Enter");
    await erin.click("#conversations li:has-text('frank')");
    await erin.waitForSelector(".message .content:text('hello from the README')");
  } finally {
    node.kill("SIGTERM");
    await new Promise((r) => (node.exitCode !== null ? r() : node.once("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }
});
