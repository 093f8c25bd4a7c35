use std::thread::JoinHandle;
use std::time::Duration;

use chatwire_server::config::JwtKey;
use chatwire_server::{Application, NodeHandle, Settings};
use serde_json::Value;

use crate::{TestDb, WsClient};

/// One running node.
pub struct Node {
    pub port: u16,
    handle: NodeHandle,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self, path: &str, token: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("ws://127.0.0.1:{}{}{}token={}", self.port, path, sep, token)
    }

    /// The node's service (operations that have no route yet).
    pub fn service(&self) -> &chatwire_core::ChatService {
        self.handle.service()
    }

    /// Kills the node abruptly, as a crash would: no close frames, no presence clean-up.
    pub async fn kill(&mut self) {
        self.handle.kill().await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Stops the node as SIGTERM does: sockets are told to reconnect, then it drains.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let handle = self.handle.clone();
            // Best effort: a test that did not stop its node still must not leak its threads.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(handle.kill());
                }
            })
            .join();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A user with a token the cluster accepts.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// An integer, as a stock Django project's user ids are.
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// N real nodes on one test database and one Redis prefix.
pub struct TestCluster {
    // Nodes first: fields drop in order, and the database must outlive the nodes using it.
    pub nodes: Vec<Node>,
    pub db: TestDb,
    pub prefix: String,
    pub redis_url: Option<String>,
    /// Seeds of a Redis Cluster the nodes use instead of `redis_url`.
    pub redis_cluster_urls: Vec<String>,
    /// Sentinels the nodes find their Redis primary through, instead of `redis_url`.
    pub redis_sentinels: Vec<String>,
    pub http: reqwest::Client,
    tweak: fn(&mut Settings),
    /// Where nodes reach the database, when not directly (a proxy).
    database_url: Option<String>,
}

fn no_tweak(_: &mut Settings) {}

impl TestCluster {
    /// `n` nodes sharing the machine's Redis (under a fresh prefix).
    pub async fn start(n: usize) -> TestCluster {
        Self::start_with(n, Some(crate::redis_url()), no_tweak).await
    }

    /// One node on the in-process bus (no Redis).
    pub async fn start_local() -> TestCluster {
        Self::start_with(1, None, no_tweak).await
    }

    pub async fn start_with(n: usize, redis_url: Option<String>, tweak: fn(&mut Settings)) -> TestCluster {
        Self::start_on(TestDb::new().await, n, redis_url, tweak).await
    }

    /// `n` nodes on a database the test prepared itself (say, one migrated from older rows).
    pub async fn start_on(db: TestDb, n: usize, redis_url: Option<String>, tweak: fn(&mut Settings)) -> TestCluster {
        Self::start_through(db, None, n, redis_url, tweak).await
    }

    /// `n` nodes that reach `db` through `database_url` (a [`crate::TcpProxy`] in front of it).
    pub async fn start_through(
        db: TestDb,
        database_url: Option<String>,
        n: usize,
        redis_url: Option<String>,
        tweak: fn(&mut Settings),
    ) -> TestCluster {
        let mut cluster = TestCluster {
            database_url,
            db,
            prefix: crate::redis_prefix(),
            redis_url,
            redis_cluster_urls: Vec::new(),
            redis_sentinels: Vec::new(),
            nodes: Vec::new(),
            http: reqwest::Client::new(),
            tweak,
        };
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// `n` nodes on a Redis Cluster (sharded pub/sub) instead of one Redis.
    pub async fn start_on_redis_cluster(n: usize, redis: &crate::RedisCluster) -> TestCluster {
        let mut cluster = Self::start_through(TestDb::new().await, None, 0, None, no_tweak).await;
        cluster.redis_cluster_urls = redis.urls();
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// `n` nodes on the primary that `redis`'s Sentinels name (and follow it through failovers).
    pub async fn start_on_redis_sentinels(n: usize, redis: &crate::RedisSentinels) -> TestCluster {
        let mut cluster = Self::start_through(TestDb::new().await, None, 0, None, no_tweak).await;
        cluster.redis_sentinels = redis.urls();
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings::defaults();
        s.bind = "127.0.0.1:0".parse().expect("addr");
        s.database_url = Some(self.database_url.clone().unwrap_or_else(|| self.db.url.clone()));
        s.redis_url = self.redis_url.clone();
        s.redis_cluster_urls = self.redis_cluster_urls.clone();
        s.redis_sentinels = self.redis_sentinels.clone();
        s.redis_sentinel_master = crate::redis_sentinel::MASTER_NAME.into();
        s.redis_prefix = self.prefix.clone();
        s.jwt_keys = vec![JwtKey::Secret(crate::JWT_SECRET.as_bytes().to_vec())];
        s.workers = 1;
        s.db_pool_size = 4;
        s.shutdown_timeout_secs = 1;
        s.presence_ttl = Duration::from_secs(3);
        s.typing_ttl = Duration::from_secs(2);
        // Drills send faster than a person types; the tests of the limit turn it back on.
        s.limits.send_rate = 0;
        s.handshake_rate = 0;
        (self.tweak)(&mut s);
        s
    }

    /// The store on the cluster's database, beside the nodes: writes through it are what a node
    /// that died before publishing left behind.
    pub fn store(&self) -> chatwire_store::PgStore {
        chatwire_store::PgStore::new(chatwire_store::connect_pool(&self.db.url, 2).expect("pool"))
    }

    /// Starts one more node; returns its index.
    pub async fn add_node(&mut self) -> usize {
        let node = start_node(self.settings()).await;
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// A new user, known to the store (as after their first request).
    pub async fn user(&self, name: &str) -> TestUser {
        let id = crate::next_user_id();
        let user = TestUser { id, name: name.to_owned(), token: crate::token(id, name) };
        let (status, _) = self.get(0, &user, "/api/v1/users/me").await;
        assert_eq!(status, 200, "registering {name}");
        user
    }

    /// Node `node`'s `GET /metrics` text.
    pub async fn metrics(&self, node: usize) -> String {
        let resp = self.http.get(format!("{}/metrics", self.nodes[node].http())).send().await.expect("metrics");
        assert_eq!(resp.status(), 200, "/metrics");
        resp.text().await.expect("metrics text")
    }

    pub async fn get(&self, node: usize, user: &TestUser, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{}", self.nodes[node].http(), path))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("request");
        read(resp).await
    }

    pub async fn send(&self, method: &str, node: usize, user: &TestUser, path: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(method, format!("{}{}", self.nodes[node].http(), path))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        read(resp).await
    }

    pub async fn post(&self, node: usize, user: &TestUser, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", node, user, path, body).await
    }

    /// Opens the native socket for `user` on node `node` and reads its `hello`.
    pub async fn socket(&self, node: usize, user: &TestUser) -> WsClient {
        let mut ws = WsClient::connect(&self.nodes[node].ws_url("/ws/v1", &user.token)).await.expect("socket");
        ws.expect_type("hello").await;
        ws
    }

    /// The usual cast: users `alice` and `bob` and the id of their DM.
    pub async fn alice_and_bob(&self) -> (TestUser, TestUser, i64) {
        let alice = self.user("alice").await;
        let bob = self.user("bob").await;
        let conv = self.dm(&alice, &bob).await;
        (alice, bob, conv)
    }

    /// Gets or creates the DM between two users; returns its id (a JSON integer on the wire).
    pub async fn dm(&self, a: &TestUser, b: &TestUser) -> i64 {
        let (status, body) = self.post(0, a, "/api/v1/conversations/dm", serde_json::json!({"user_id": b.id})).await;
        assert_eq!(status, 200, "{body}");
        body["conversation"]["id"].as_i64().expect("the conversation id is a JSON integer")
    }
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn start_node(settings: Settings) -> Node {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match Application::build(settings).await {
                Ok(app) => {
                    let _ = tx.send(Ok((app.port(), app.handle())));
                    let _ = app.run_until_stopped().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        })
    });
    let (port, handle) = rx.await.expect("node thread").expect("node start");
    Node { port, handle, thread: Some(thread) }
}

/// The value of the sample `series` (a name with its labels, as written: `chatwire_sockets{dialect="native"}`)
/// in a `/metrics` text, if it is there.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}
