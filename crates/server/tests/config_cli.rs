//! The `chatwire` binary's configuration surface, run as an operator runs it: `config check`,
//! `config print`, and a production node that refuses to start without what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]
use std::process::{Command, Output};

mod common;

/// The binary with none of the developer's own settings, in an empty folder (so a development
/// fallback could not find an old data folder either).
fn chatwire(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("chatwire-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatwire"));
    cmd.args(args).current_dir(&dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("CHATWIRE_") || name == "DATABASE_URL" || name == "REDIS_URL" {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("running chatwire");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef-production";

#[test]
fn config_check_names_an_invalid_value_and_exits_non_zero() {
    let out = chatwire(&["config", "check"], &[("CHATWIRE_BIND", "nonsense")]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CHATWIRE_BIND"), "{}", text(&out));

    let out = chatwire(&["config", "check"], &[("CHATWIRE_SOCKET_QUEUE", "many")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("CHATWIRE_SOCKET_QUEUE"), "{}", text(&out));

    let out = chatwire(&["config", "check"], &[("CHATWIRE_ENV", "prod")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("CHATWIRE_ENV"), "{}", text(&out));
}

#[test]
fn config_check_warns_about_unknown_variables_and_passes_a_valid_setup() {
    let env = [
        ("CHATWIRE_ENV", "production"),
        ("DATABASE_URL", "postgres://chat:pw@db:5432/chat"),
        ("REDIS_URL", "redis://redis:6379"),
        ("CHATWIRE_JWT_SECRET", GOOD_SECRET),
        ("CHATWIRE_SOCKET_QUEUEE", "10"),
    ];
    let out = chatwire(&["config", "check"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("valid (production)"), "{said}");
    assert!(said.contains("CHATWIRE_SOCKET_QUEUEE"), "the typo is named: {said}");
}

#[test]
fn production_refuses_to_start_and_says_what_is_missing() {
    let out = chatwire(&["serve"], &[("CHATWIRE_ENV", "production"), ("CHATWIRE_BIND", "127.0.0.1:0")]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    for missing in ["DATABASE_URL", "REDIS_URL", "JWT key"] {
        assert!(said.contains(missing), "names {missing}: {said}");
    }

    // A development-sized secret is not a production key.
    let env = [
        ("CHATWIRE_ENV", "production"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("CHATWIRE_JWT_SECRET", "short"),
    ];
    let out = chatwire(&["config", "check"], &env);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CHATWIRE_JWT_SECRET is 5 bytes"), "{}", text(&out));
}

#[test]
fn config_print_shows_the_effective_settings_with_secrets_masked() {
    let env = [
        ("DATABASE_URL", "postgres://chat:db-password-1@db:5432/chat"),
        ("REDIS_URL", "redis://:redis-password-2@redis:6379"),
        ("CHATWIRE_JWT_SECRET", GOOD_SECRET),
        ("CHATWIRE_SOCKET_QUEUE", "77"),
    ];
    let out = chatwire(&["config", "print"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    for secret in ["db-password-1", "redis-password-2", GOOD_SECRET] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains("CHATWIRE_SOCKET_QUEUE=77\n"), "{printed}");
    assert!(printed.contains("DATABASE_URL=postgres://chat:***@db:5432/chat\n"), "{printed}");
    assert!(printed.contains(&format!("CHATWIRE_JWT_SECRET=<set, {} bytes>\n", GOOD_SECRET.len())), "{printed}");
    assert!(printed.contains("CHATWIRE_ENV=development\n"), "{printed}");
}

/// Sentinel is a third way to Redis: production accepts it alone, refuses it beside REDIS_URL,
/// and `config print` shows it with its password masked.
#[test]
fn sentinel_settings_are_checked_and_printed_masked() {
    let sentinel = [
        ("CHATWIRE_ENV", "production"),
        ("DATABASE_URL", "postgres://chat:pw@db:5432/chat"),
        ("CHATWIRE_REDIS_SENTINELS", "redis://:sentinel-pw-3@s1:26379, redis://:sentinel-pw-3@s2:26379"),
        ("CHATWIRE_REDIS_SENTINEL_MASTER", "chat-primary"),
        ("CHATWIRE_JWT_SECRET", GOOD_SECRET),
    ];
    let out = chatwire(&["config", "check"], &sentinel);
    assert!(out.status.success(), "{}", text(&out));

    let out = chatwire(&["config", "print"], &sentinel);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!printed.contains("sentinel-pw-3"), "leaked: {printed}");
    assert!(printed.contains("CHATWIRE_REDIS_SENTINELS=redis://:***@s1:26379,redis://:***@s2:26379\n"), "{printed}");
    assert!(printed.contains("CHATWIRE_REDIS_SENTINEL_MASTER=chat-primary\n"), "{printed}");

    let mut both = sentinel.to_vec();
    both.push(("REDIS_URL", "redis://redis:6379"));
    let out = chatwire(&["config", "check"], &both);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CHATWIRE_REDIS_SENTINELS"), "{}", text(&out));
}

/// With migrations left to a Job, a node on a database the Job has not migrated yet refuses to
/// start (rather than fail on its first query); after `chatwire migrate` it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_must_not_migrate_refuses_an_unmigrated_database() {
    let (db, url) = common::create_database("chatwire_cli").await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("CHATWIRE_JWT_SECRET", GOOD_SECRET),
        ("CHATWIRE_MIGRATE_ON_START", "false"),
        ("CHATWIRE_BIND", "127.0.0.1:0"),
    ];
    let out = chatwire(&["serve"], &env);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("run `chatwire migrate` first"), "{}", text(&out));

    let out = chatwire(&["migrate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    // Nothing is pending now: `serve` would start, which `config check` cannot show, so ask the
    // store directly what is pending.
    let pending = chatwire_store::migrate::pending_migrations(&url).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    common::drop_database(&db).await;
}
