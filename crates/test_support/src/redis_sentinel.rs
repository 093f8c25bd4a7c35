//! A private primary, one replica and three Sentinels from the machine's `redis-server` (the
//! Sentinel is `redis-server --sentinel`), on free ports; every process is this test's own and
//! dies with it. Failover is fast on purpose: a primary is down after one second unanswered.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MASTER_NAME: &str = "chatwire";

pub struct RedisSentinels {
    /// The two data servers; which one is primary changes with each failover.
    pub data_ports: Vec<u16>,
    pub sentinel_ports: Vec<u16>,
    data: Vec<Option<Child>>,
    sentinels: Vec<Child>,
    dir: PathBuf,
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

impl RedisSentinels {
    /// Starts the primary (`data_ports[0]`), its replica and three Sentinels with a quorum of
    /// two, and waits until every Sentinel knows the replica and the other two Sentinels.
    pub async fn start() -> RedisSentinels {
        let dir = std::env::temp_dir().join(format!("chatwire-sentinel-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("sentinel folder");
        let mut set = RedisSentinels {
            data_ports: vec![crate::free_port(), crate::free_port()],
            sentinel_ports: vec![crate::free_port(), crate::free_port(), crate::free_port()],
            data: vec![None, None],
            sentinels: Vec::new(),
            dir,
        };
        set.start_data(0, None).await;
        set.start_data(1, Some(set.data_ports[0])).await;
        for i in 0..set.sentinel_ports.len() {
            let port = set.sentinel_ports[i];
            let conf = set.dir.join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = set.dir.display(),
                primary = set.data_ports[0],
            );
            std::fs::write(&conf, text).expect("sentinel config");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (.ci/run installs it)");
            set.sentinels.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if set.sentinel_ports.iter().all(|p| set.sentinel_sees_everyone(*p)) {
                return set;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the Sentinels on {:?} never saw the replica and each other", set.sentinel_ports);
    }

    fn sentinel_sees_everyone(&self, port: u16) -> bool {
        let replicas = cli(port, &["sentinel", "replicas", MASTER_NAME]);
        let sentinels = cli(port, &["sentinel", "sentinels", MASTER_NAME]);
        replicas.contains(&self.data_ports[1].to_string())
            && self.sentinel_ports.iter().filter(|p| **p != port).all(|p| sentinels.contains(&p.to_string()))
    }

    /// Sentinel URLs, as `CHATWIRE_REDIS_SENTINELS` takes them.
    pub fn urls(&self) -> Vec<String> {
        self.sentinel_ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// Which data server (an index into `data_ports`) the Sentinels name as primary now.
    pub fn primary(&self) -> Option<usize> {
        let reply = cli(self.sentinel_ports[0], &["sentinel", "get-master-addr-by-name", MASTER_NAME]);
        let port: u16 = reply.lines().nth(1)?.trim().parse().ok()?;
        self.data_ports.iter().position(|p| *p == port)
    }

    /// The pub/sub channels someone subscribes on data server `i`, but the Sentinels' own.
    pub fn channels(&self, i: usize) -> Vec<String> {
        cli(self.data_ports[i], &["pubsub", "channels"])
            .lines()
            .filter(|c| !c.is_empty() && !c.starts_with("__sentinel__"))
            .map(str::to_owned)
            .collect()
    }

    /// SIGKILLs data server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.data[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the Sentinels name a primary other than `old` that answers as one; returns
    /// how long that took.
    pub async fn await_failover_from(&self, old: usize) -> Duration {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(now) = self.primary()
                && now != old
                && cli(self.data_ports[now], &["role"]).starts_with("master")
            {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no failover from {} within 30 s", self.data_ports[old]);
    }

    /// A planned switchover (`SENTINEL FAILOVER`, as before upgrading the primary): the replica
    /// is promoted and the old primary demoted, all processes staying up. Returns the new
    /// primary's index once it answers as one.
    pub async fn switch_over(&self) -> usize {
        let old = self.primary().expect("a primary");
        let reply = cli(self.sentinel_ports[0], &["sentinel", "failover", MASTER_NAME]);
        assert!(reply.trim() == "OK", "SENTINEL FAILOVER: {reply}");
        self.await_failover_from(old).await;
        self.primary().expect("a primary")
    }

    /// Starts data server `i` again (empty, as a replica of whatever is primary now, which is
    /// also what Sentinel would make of it).
    pub async fn restart_as_replica(&mut self, i: usize) {
        self.kill(i);
        let primary = self.primary().map(|p| self.data_ports[p]);
        self.start_data(i, primary).await;
    }

    async fn start_data(&mut self, i: usize, replica_of: Option<u16>) {
        let port = self.data_ports[i];
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir);
        if let Some(primary) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.data[i] = Some(child);
        if crate::wait_for_port(port).await {
            return;
        }
        panic!("redis-server did not come up on port {port}");
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        for child in self.data.iter_mut().filter_map(Option::take).chain(self.sentinels.drain(..)) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
