//! A private Postgres for `chatwire serve` on a machine with no `DATABASE_URL`: initialised once
//! in a data folder chatwire owns, started on a local port, stopped when the node stops.
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EmbeddedPgError {
    #[error(
        "no DATABASE_URL and no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install postgresql`) or set \
         DATABASE_URL to an existing database."
    )]
    NoBinaries,
    #[error("{step} failed: {detail}")]
    Failed { step: &'static str, detail: String },
}

pub struct EmbeddedPg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    candidates.into_iter().find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    // initdb and postgres refuse to run as root; then they run as the `postgres` user.
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

impl EmbeddedPg {
    /// Initialises (first time) and starts Postgres in `<data_dir>/pg`; returns its URL.
    pub fn start(data_dir: &Path, port: u16) -> Result<(EmbeddedPg, String), EmbeddedPgError> {
        let bin = find_bin_dir().ok_or(EmbeddedPgError::NoBinaries)?;
        std::fs::create_dir_all(data_dir).map_err(|e| fail("creating the data folder", e))?;
        let data = data_dir.canonicalize().map_err(|e| fail("resolving the data folder", e))?.join("pg");
        let pg = EmbeddedPg { bin, data, port, as_postgres_user: is_root() };
        if !pg.data.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&pg.data).map_err(|e| fail("creating the data folder", e))?;
            pg.chown()?;
            pg.run("initdb", &["-D", &pg.data_str(), "-U", "postgres", "--auth=trust", "-E", "UTF8"])?;
        }
        let running = pg.run("pg_ctl", &["-D", &pg.data_str(), "status"]).is_ok();
        if !running {
            let opts = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", pg.port, pg.data_str());
            let log = pg.data.join("server.log");
            pg.run("pg_ctl", &["-D", &pg.data_str(), "-o", &opts, "-l", &log.to_string_lossy(), "-w", "start"])?;
        }
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
        tracing::info!(data = %pg.data.display(), port = pg.port, "private Postgres running");
        Ok((pg, url))
    }

    pub fn stop(&self) {
        if let Err(err) = self.run("pg_ctl", &["-D", &self.data_str(), "-m", "fast", "-w", "stop"]) {
            tracing::warn!(%err, "stopping the private Postgres");
        }
    }

    fn data_str(&self) -> String {
        self.data.to_string_lossy().into_owned()
    }

    fn chown(&self) -> Result<(), EmbeddedPgError> {
        if self.as_postgres_user {
            let out = Command::new("chown")
                .args(["-R", "postgres", &self.data_str()])
                .output()
                .map_err(|e| fail("chown", e))?;
            if !out.status.success() {
                return Err(EmbeddedPgError::Failed {
                    step: "chown",
                    detail: String::from_utf8_lossy(&out.stderr).into(),
                });
            }
        }
        Ok(())
    }

    fn run(&self, tool: &'static str, args: &[&str]) -> Result<(), EmbeddedPgError> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(args).output().map_err(|e| fail(tool, e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedPgError::Failed {
                step: tool,
                detail: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            })
        }
    }
}

fn fail(step: &'static str, e: std::io::Error) -> EmbeddedPgError {
    EmbeddedPgError::Failed { step, detail: e.to_string() }
}
