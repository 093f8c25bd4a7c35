// The client against real chatwire nodes (see harness.mjs): acknowledgements, typed REST, a node
// SIGKILLed mid-stream, and a token refreshed before it expires.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { ChatwireClient, ChatwireError, ChatwireRest } from "../dist/index.js";
import { sleep, startCluster, startRedis, token, until, user } from "./harness.mjs";

let cluster;
const clients = [];
before(async () => {
  cluster = await startCluster(2);
});
after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

function client(options) {
  const c = new ChatwireClient({ WebSocket, backoff: { minMs: 50, maxMs: 500 }, ...options });
  clients.push(c);
  return c;
}

/** Alice and Bob, both known to the nodes, and their DM. */
async function dm(urls) {
  const alice = user("alice");
  const bob = user("bob");
  await new ChatwireRest({ baseUrl: urls[1], token: bob.token }).me();
  const view = await new ChatwireRest({ baseUrl: urls[0], token: alice.token }).openDm(bob.id);
  return { alice, bob, conv: view.conversation.id };
}

test("a send is acknowledged, arrives on the other node, and REST calls are typed", async () => {
  const { alice, bob, conv } = await dm(cluster.urls);
  const bobClient = client({ url: cluster.urls[1], token: bob.token });
  const got = [];
  bobClient.on("message", (m) => got.push(m));
  await bobClient.connect();
  const aliceClient = client({ url: cluster.urls[0], token: alice.token });
  await aliceClient.connect();

  const sent = await aliceClient.send(conv, "hello bob");
  assert.equal(sent.seq, 1);
  assert.equal(sent.content, "hello bob");
  await until(() => got.length === 1, 5000, "Bob's message");
  assert.equal(got[0].content, "hello bob");
  assert.equal(got[0].conversation_id, conv);

  const bobRest = new ChatwireRest({ baseUrl: cluster.urls[1], token: bob.token });
  const [view] = await bobRest.conversations();
  assert.equal(view.conversation.id, conv);
  assert.equal(view.unread_count, 1);
  const history = await bobRest.messages(conv, { limit: 10 });
  assert.deepEqual(history.map((m) => m.content), ["hello bob"]);
  await assert.rejects(bobRest.conversation(999_999_999), (err) => {
    assert.ok(err instanceof ChatwireError);
    assert.equal(err.status, 404);
    assert.equal(err.code, "not_found");
    return true;
  });
});

test("a node SIGKILLed mid-stream: the application sees every message once, in order", async () => {
  const nodes = await startCluster(2);
  try {
    const { alice, bob, conv } = await dm(nodes.urls);
    // Both start on node 0 and know node 1 too.
    const bobClient = client({ url: nodes.urls, token: bob.token });
    const got = [];
    bobClient.on("message", (m) => got.push(m));
    await bobClient.connect();
    const aliceClient = client({ url: nodes.urls, token: alice.token });
    await aliceClient.connect();
    const reconnects = [];
    bobClient.on("state", (state, detail) => state === "open" && reconnects.push(detail.url));

    const total = 200;
    const sends = [];
    for (let i = 0; i < total; i++) {
      if (i === 60) nodes.kill(0);
      sends.push(aliceClient.send(conv, `m${i}`));
      await sleep(5);
    }
    const acked = await Promise.all(sends);
    await until(() => got.length >= total, 20_000, `${total} messages at Bob (has ${got.length})`);
    await sleep(300);

    assert.deepEqual(reconnects, [nodes.urls[1]], "Bob moved to the surviving node once");
    assert.equal(got.length, total, "nothing twice");
    assert.deepEqual(got.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1), "seq order, no gap");
    assert.deepEqual(got.map((m) => m.content), Array.from({ length: total }, (_, i) => `m${i}`), "the send order");
    assert.equal(new Set(acked.map((m) => m.id)).size, total, "each send acknowledged with its own message");
    const stored = await new ChatwireRest({ baseUrl: nodes.urls[1], token: bob.token }).messages(conv, { limit: 200 });
    assert.equal(stored.length, total, "stored once each");
    console.log(`node kill: ${total} acknowledged, ${got.length} delivered once in order; Bob reconnected to ${reconnects}`);
  } finally {
    await nodes.stop();
  }
});

test("Redis SIGKILLed mid-stream for two seconds: every message once, in order", async () => {
  const redis = await startRedis();
  const nodes = await startCluster(2, redis.url);
  try {
    const { alice, bob, conv } = await dm(nodes.urls);
    const bobClient = client({ url: nodes.urls[1], token: bob.token });
    const got = [];
    bobClient.on("message", (m) => got.push(m));
    await bobClient.connect();
    const aliceClient = client({ url: nodes.urls[0], token: alice.token });
    await aliceClient.connect();

    const total = 150;
    const sends = [];
    let killedAt = 0;
    for (let i = 0; i < total; i++) {
      if (i === 40) {
        redis.kill();
        killedAt = Date.now();
      }
      if (killedAt && Date.now() - killedAt > 2000 && i < total && !redis.back) {
        redis.back = true;
        await redis.restart();
      }
      sends.push(aliceClient.send(conv, `m${i}`));
      await sleep(20);
    }
    if (!redis.back) await redis.restart();
    await Promise.all(sends);
    await until(() => got.length >= total, 20_000, `${total} messages at Bob (has ${got.length})`);
    await sleep(300);
    assert.equal(got.length, total, "nothing twice");
    assert.deepEqual(got.map((m) => m.content), Array.from({ length: total }, (_, i) => `m${i}`), "in order, none missing");
    console.log(`redis kill: ${total} acknowledged, ${got.length} delivered once in order`);
  } finally {
    await nodes.stop();
    redis.stop();
  }
});

test("a token function is asked again before the token expires, and the socket lives on", async () => {
  const { alice, bob, conv } = await dm(cluster.urls);
  let asked = 0;
  const bobClient = client({
    url: cluster.urls[1],
    // Five-second tokens, renewed three seconds before they run out.
    token: () => {
      asked++;
      return token(bob.id, "bob", 5);
    },
    refreshBeforeSeconds: 3,
  });
  const got = [];
  const closes = [];
  bobClient.on("message", (m) => got.push(m));
  bobClient.on("state", (state, detail) => state === "closed" && closes.push(detail.code));
  await bobClient.connect();
  await sleep(6500);
  await new ChatwireRest({ baseUrl: cluster.urls[0], token: alice.token }).sendMessage(conv, "still there?");
  await until(() => got.length === 1, 5000, "the message after the first token expired");
  assert.deepEqual(closes, [], "the socket was never closed");
  assert.ok(asked >= 3, `the token function was asked ${asked} times`);
});
