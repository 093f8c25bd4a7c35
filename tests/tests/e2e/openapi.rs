/// The OpenAPI document is generated from the code and checked into docs/; this keeps the two
/// equal. Regenerate with `CHATWIRE_UPDATE_DOCS=1 cargo test --workspace openapi`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_openapi_document_matches_the_checked_in_one() {
    let cluster = chatwire_test_support::TestCluster::start_local().await;
    let served: serde_json::Value = cluster
        .http
        .get(format!("{}/api/v1/openapi.json", cluster.node(0).http()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(served["paths"]["/conversations/{id}/messages"]["post"].is_object(), "send is documented");
    // Generators (openapi-typescript, the TypeScript client's types) need each operation named
    // once; utoipa names them after the handler function, and several handlers share a name.
    let mut ids: Vec<&str> = served["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|ops| ops.as_object())
        .flat_map(|ops| ops.values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "operationIds repeat: {ids:?}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).expect("json") + "\n";
    if std::env::var("CHATWIRE_UPDATE_DOCS").is_ok() {
        std::fs::write(path, &pretty).expect("writing docs/openapi.json");
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == pretty,
        "docs/openapi.json is stale: run CHATWIRE_UPDATE_DOCS=1 cargo test --workspace openapi"
    );
}
