//! A private PgBouncer (Debian's `pgbouncer`) on a free port in front of the machine's Postgres,
//! in session or transaction pooling mode. PgBouncer refuses to run as root, so when the tests
//! run as root it runs as the `postgres` user (`setpriv`); the process is this test's own.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

#[derive(Clone, Copy, Debug)]
pub enum PoolMode {
    Session,
    Transaction,
}

impl PgBouncer {
    /// Pools connections to database `dbname` on 127.0.0.1:5432 (a server pool of `pool_size`).
    pub async fn start(dbname: &str, mode: PoolMode, pool_size: usize) -> PgBouncer {
        let dir = std::env::temp_dir().join(format!("chatwire-pgbouncer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("pgbouncer folder");
        let port = crate::free_port();
        let mode = match mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        };
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").expect("auth file");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{dbname} = host=127.0.0.1 port=5432 dbname={dbname}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {dir}/users.txt\npool_mode = {mode}\n\
                 default_pool_size = {pool_size}\nmax_client_conn = 200\n\
                 logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
                dir = dir.display(),
            ),
        )
        .expect("pgbouncer.ini");
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut cmd = if root {
            let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "postgres", "--regid", "postgres", "--init-groups", "pgbouncer"]);
            c
        } else {
            Command::new("pgbouncer")
        };
        let child = cmd
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer must be installed (scripts/test installs it)");
        // Owned from here on: dropping it stops the process, on the failure path too.
        let bouncer = PgBouncer { port, child, dir };
        if crate::wait_for_port(port).await {
            return bouncer;
        }
        panic!("pgbouncer did not come up on port {port}: {}", bouncer.log());
    }

    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// What PgBouncer logged (its view of the clients and servers).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
