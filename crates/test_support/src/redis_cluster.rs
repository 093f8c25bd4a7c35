//! A private Redis Cluster of three primaries from the machine's `redis-server`, on free ports,
//! made with `redis-cli --cluster create`; every process is this test's own and dies with it.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
    dir: PathBuf,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("chatwire-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        // A cluster bus port is the port + 10000: keep both under 65536.
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                loop {
                    let p = crate::free_port();
                    if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
                        break p;
                    }
                }
            })
            .collect();
        let mut cluster = RedisCluster { children: ports.iter().map(|_| None).collect(), ports, dir };
        for i in 0..cluster.ports.len() {
            cluster.start_node(i).await;
        }
        let addrs: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed with redis-server");
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        for _ in 0..200 {
            if cluster.ports.iter().all(|p| cluster_state_ok(*p)) {
                return cluster;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the cluster on {addrs:?} never reported cluster_state:ok");
    }

    /// Seed URLs, one per primary.
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// SIGKILLs primary `i` (its slots are down until it comes back).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts primary `i` again on its port and node file, and waits until the cluster is whole.
    pub async fn restart(&mut self, i: usize) {
        self.stop(i);
        self.start_node(i).await;
        for _ in 0..200 {
            if self.ports.iter().all(|p| cluster_state_ok(*p)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the cluster did not recover after restarting {}", self.ports[i]);
    }

    /// The primary (an index into `ports`) that owns `key`'s hash slot.
    pub fn owner(&self, key: &str) -> usize {
        let cli = |args: &[&str]| {
            let out = Command::new("redis-cli").args(["-p", &self.ports[0].to_string()]).args(args).output();
            String::from_utf8_lossy(&out.expect("redis-cli").stdout).to_string()
        };
        let slot: u16 = cli(&["cluster", "keyslot", key]).trim().parse().expect("a slot");
        for line in cli(&["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(port) = fields.get(1).and_then(|a| a.split(['@', ':']).nth(1)).and_then(|p| p.parse::<u16>().ok())
            else {
                continue;
            };
            let owns = fields.iter().skip(8).any(|range| match range.split_once('-') {
                Some((lo, hi)) => {
                    lo.parse::<u16>().is_ok_and(|lo| lo <= slot) && hi.parse::<u16>().is_ok_and(|hi| slot <= hi)
                }
                None => range.parse::<u16>() == Ok(slot),
            });
            if owns && let Some(i) = self.ports.iter().position(|p| *p == port) {
                return i;
            }
        }
        panic!("no primary owns slot {slot} of {key}");
    }

    async fn start_node(&mut self, i: usize) {
        let port = self.ports[i];
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
            .arg("--cluster-config-file")
            .arg(&conf)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.children[i] = Some(child);
        if crate::wait_for_port(port).await {
            return;
        }
        panic!("redis-server did not come up on port {port}");
    }
}

fn cluster_state_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
