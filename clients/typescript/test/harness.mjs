// Real chatwire nodes for the client's tests: the binary cargo built (CHATWIRE_BIN, default
// target/debug/chatwire), a fresh database on the machine's Postgres, a fresh prefix on its
// Redis. Only the processes started here are ever signalled.
import { execFileSync, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { createConnection, createServer } from "node:net";
import { fileURLToPath } from "node:url";

// At least 32 bytes: the browser test runs the local cluster, which runs in production mode.
export const SECRET = "chatwire-typescript-test-secret-for-every-node";
const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = process.env.CHATWIRE_BIN ?? `${root}target/debug/chatwire`;
const redis = process.env.CHATWIRE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const admin = ["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` is true, or fails after `ms`. */
export async function until(check, ms = 10_000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

let nextUser = (Math.floor(Date.now() / 1000) % 1_000_000) * 100;

/** A user with a token shaped as djangorestframework-simplejwt mints one. */
export function user(name, expiresIn = 3600) {
  const id = ++nextUser;
  return { id, name, token: token(id, name, expiresIn) };
}

export function token(id, name, expiresIn = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ token_type: "access", exp: now + expiresIn, iat: now, jti: randomUUID(), user_id: String(id), username: name });
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** A private redis-server on a free port, which a test may SIGKILL and start again. */
export async function startRedis() {
  const port = await freePort();
  let child = null;
  const up = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise((resolve) => {
        const socket = createConnection(port, "127.0.0.1", () => (socket.end(), resolve(true)));
        socket.on("error", () => resolve(false));
      });
      if (ok) return;
      await sleep(50);
    }
    throw new Error(`redis-server did not come up on ${port}`);
  };
  await up();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill: () => child.kill("SIGKILL"),
    restart: up,
    stop: () => child.exitCode === null && child.kill("SIGKILL"),
  };
}

/** `n` nodes on one fresh database and Redis prefix (the machine's Redis, or `redisUrl`). */
export async function startCluster(n, redisUrl = redis) {
  const db = `chatwire_ts_${randomUUID().replaceAll("-", "")}`;
  execFileSync("psql", [...admin, `CREATE DATABASE ${db}`]);
  const prefix = `ts${randomUUID().slice(0, 8)}:`;
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    const child = spawn(bin, ["serve"], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db}`,
        REDIS_URL: redisUrl,
        CHATWIRE_REDIS_PREFIX: prefix,
        CHATWIRE_JWT_SECRET: SECRET,
        CHATWIRE_BIND: `127.0.0.1:${port}`,
        CHATWIRE_WORKERS: "1",
        CHATWIRE_SEND_RATE: "0",
        CHATWIRE_HANDSHAKE_RATE: "0",
        CHATWIRE_SHUTDOWN_TIMEOUT_SECS: "1",
        CHATWIRE_LOG: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const url = `http://127.0.0.1:${port}`;
    nodes.push({ child, url });
    // One at a time: the first runs the migrations.
    await waitReady(url, child);
  }
  return {
    urls: nodes.map((node) => node.url),
    /** SIGKILLs node `i` (a process this harness started). */
    kill(i) {
      nodes[i].child.kill("SIGKILL");
    },
    async stop() {
      for (const { child } of nodes) if (child.exitCode === null) child.kill("SIGKILL");
      await sleep(100);
      execFileSync("psql", [...admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
    },
  };
}

async function waitReady(url, child) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${bin} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} never became ready`);
}
