//! The `chatwire` binary: `serve`, `migrate`, `token`.
use std::path::Path;

use anyhow::Context;
use chatwire_server::Application;
use chatwire_server::auth::{Claims, mint};
use chatwire_server::config::{JwtKey, Settings};
use chatwire_server::embedded_pg::EmbeddedPg;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chatwire",
    version,
    about = "A horizontally scaled chat backend that speaks Django Channels chat APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a node (migrations first). Settings come from the environment; see README.md.
    Serve,
    /// Applies pending database migrations and exits.
    Migrate,
    /// Checks or prints the configuration the environment gives.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Prints an HS256 token for a user, signed with CHATWIRE_JWT_SECRET (for tests and operations).
    Token {
        /// The user's id as the identity provider names them: an integer (`5`), a UUID, any string.
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validates every setting (and, with CHATWIRE_ENV=production, that nothing is missing);
    /// exits non-zero saying what is wrong.
    Check,
    /// Prints the effective configuration, one NAME=value per line, secrets masked.
    Print,
}

fn main() -> anyhow::Result<()> {
    // Kept to the end of main: dropping it flushes the traces still batched.
    let _telemetry = chatwire_server::telemetry::init()?;
    let cli = Cli::parse();
    let mut settings = Settings::from_env()?;
    for name in chatwire_server::config::unknown_variables() {
        tracing::warn!(%name, "unknown setting, ignored (see `chatwire config print` for the known ones)");
    }
    match cli.command {
        Cmd::Config { action: ConfigAction::Check } => {
            if settings.production {
                settings.check_production()?;
            }
            let unknown = chatwire_server::config::unknown_variables();
            let mode = if settings.production { "production" } else { "development" };
            if unknown.is_empty() {
                println!("configuration is valid ({mode})");
            } else {
                println!("configuration is valid ({mode}); unknown, ignored: {}", unknown.join(", "));
            }
            Ok(())
        }
        Cmd::Config { action: ConfigAction::Print } => {
            for (name, value) in settings.describe() {
                println!("{name}={value}");
            }
            Ok(())
        }
        Cmd::Token { user_id, username, email, display_name, ttl } => {
            let secret = dev_secret(&mut settings)?;
            let claims = Claims { username, email, display_name, ..Claims::for_user(user_id, ttl) };
            println!("{}", mint(&secret, &claims)?);
            Ok(())
        }
        Cmd::Migrate => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(async {
                let (pg, url) = database(&settings)?;
                let applied = chatwire_store::run_migrations(&url).await?;
                println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
                if let Some(pg) = pg {
                    pg.stop();
                }
                Ok(())
            })
        }
        Cmd::Serve => {
            if settings.production {
                settings.check_production()?;
            } else {
                dev_secret(&mut settings)?;
            }
            actix_web::rt::System::new().block_on(serve(settings))
        }
    }
}

/// The URL to use, booting a private Postgres when `DATABASE_URL` is unset.
fn database(settings: &Settings) -> anyhow::Result<(Option<EmbeddedPg>, String)> {
    if let Some(url) = &settings.database_url {
        return Ok((None, url.clone()));
    }
    if settings.production {
        anyhow::bail!("DATABASE_URL is unset: production never boots a private Postgres");
    }
    let port = std::env::var("CHATWIRE_EMBEDDED_PG_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(54329);
    let (pg, url) = EmbeddedPg::start(&settings.data_dir, port)?;
    Ok((Some(pg), url))
}

/// With no key configured, a node and `chatwire token` share a random secret kept in the data
/// folder, so the README's run command works with no set-up. Production sets a real key.
fn dev_secret(settings: &mut Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(JwtKey::Secret(s)) = settings.jwt_keys.iter().find(|k| matches!(k, JwtKey::Secret(_))) {
        return Ok(s.clone());
    }
    if !settings.jwt_keys.is_empty() {
        anyhow::bail!(
            "`chatwire token` needs CHATWIRE_JWT_SECRET (tokens for a public key come from your identity provider)"
        );
    }
    let path = settings.data_dir.join("jwt_secret");
    let secret = read_or_create_secret(&path)?;
    tracing::warn!(path = %path.display(), "CHATWIRE_JWT_SECRET unset: using a development secret from the data folder");
    settings.jwt_keys.push(JwtKey::Secret(secret.clone()));
    Ok(secret)
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(s) = std::fs::read_to_string(path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).context("creating the data folder")?;
    let secret: String = (0..48).map(|_| char::from(b'a' + rand::random_range(0..26u8))).collect();
    std::fs::write(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret.into_bytes())
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let (pg, url) = database(&settings)?;
    settings.database_url = Some(url);
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "chatwire node listening");
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: asking clients to reconnect elsewhere, then draining");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    if let Some(pg) = pg {
        pg.stop();
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
