//! Probes for load balancers and Kubernetes.
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
}

/// `GET /healthz`: 200 while the process lives.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 only when Postgres (on the readiness connection), the bus (publishing and
/// the subscriber) answer and the node is not draining.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Both at once, bounded well inside a probe's usual 1-2 s timeout: a slow dependency makes
    // the answer "not ready", never a probe timeout.
    let timeout = std::time::Duration::from_millis(800);
    let (db, bus) = futures_util::join!(
        tokio::time::timeout(timeout, state.service.store_ready()),
        tokio::time::timeout(timeout, state.service.bus().ping()),
    );
    let (db, bus) = (matches!(db, Ok(Ok(()))), matches!(bus, Ok(Ok(()))));
    let draining = state.is_draining();
    let body = json!({
        "postgres": if db { "ok" } else { "down" },
        "bus": if bus { "ok" } else { "down" },
        "draining": draining,
        "node": state.node_id,
    });
    if db && bus && !draining { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
