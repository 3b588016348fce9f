//! A token sees only its own organization, and each `Accept` gets the CLI's bytes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_one_organization_never_sees_a_row_of_another() {
    let lake = two_org_lake();
    let server = TestServer::start(lake.root(), Some(access()), |_| {}).await;
    let upper = |s: &str| s.to_uppercase();
    let only_b =
        json!({"filters": [{"property": "session_id", "values": ["b-only", "shared-session"]}]});
    let b_events = json!({"filters": [{"property": "event_id", "values": ["b-g1", "b-g2"]}]});
    let total = json!({"target": "affected_goal_total"});
    // (path organization, workflow, payload extra, token) → status, and A's rows only.
    let table: Vec<(String, &str, Value, &str, u16)> = vec![
        (ORG.into(), WF_INTERACTION, json!({}), TOKEN_A, 200),
        (upper(ORG), WF_INTERACTION, json!({}), TOKEN_A, 200),
        (
            ORG.into(),
            &upper(WF_INTERACTION).leak()[..],
            total.clone(),
            TOKEN_A,
            200,
        ),
        (ORG.into(), WF_INTERACTION, only_b.clone(), TOKEN_A, 200),
        (ORG.into(), WF_INTERACTION, b_events.clone(), TOKEN_A, 200),
        (ORG.into(), WF_OTHER_ORG, json!({}), TOKEN_A, 404),
        (OTHER_ORG.into(), WF_OTHER_ORG, json!({}), TOKEN_A, 403),
        (upper(OTHER_ORG), WF_OTHER_ORG, total.clone(), TOKEN_A, 403),
        (OTHER_ORG.into(), WF_INTERACTION, json!({}), TOKEN_A, 403),
        (
            format!("{ORG}%2F..%2F{OTHER_ORG}"),
            WF_OTHER_ORG,
            json!({}),
            TOKEN_A,
            403,
        ),
        (ORG.into(), WF_INTERACTION, json!({}), TOKEN_B, 403),
        (OTHER_ORG.into(), WF_OTHER_ORG, total.clone(), TOKEN_B, 200),
    ];
    for (org, workflow, extra, token, status) in table {
        let reply = post(
            &server.url(&org, workflow),
            Some(token),
            None,
            &day(extra.clone()),
        )
        .await;
        assert_eq!(
            reply.status,
            status,
            "{org} {workflow} {extra}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        if status == 200 {
            let own = if token == TOKEN_A { "a-" } else { "b-" };
            let ids = reply.ids();
            assert!(
                ids.iter().all(|id| id.starts_with(own)),
                "{org} {extra}: {ids:?}"
            );
            if extra == json!({}) || extra == total {
                assert!(!ids.is_empty(), "the organization's own rows are answered");
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_picks_each_encoding_with_the_same_bytes_as_the_cli() {
    let sample = crate::support::repo().join("data");
    let server = TestServer::start(&sample, None, |_| {}).await;
    let (org, workflow) = (
        "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
        "5887c297-1e03-45e4-863e-7a9f784c5a2c",
    );
    let body =
        std::fs::read_to_string(crate::support::repo().join("queries/all-goals-advanced.json"))
            .unwrap();
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    for (accept, format, content_type) in [
        (None, Format::Json, "application/json"),
        (Some("application/json"), Format::Json, "application/json"),
        (
            Some("application/x-ndjson"),
            Format::Ndjson,
            "application/x-ndjson",
        ),
        (Some("text/csv"), Format::Csv, "text/csv; charset=utf-8"),
        (
            Some("application/vnd.apache.arrow.stream"),
            Format::Arrow,
            "application/vnd.apache.arrow.stream",
        ),
        (
            Some("text/html;q=0.9, application/x-ndjson;q=0.5"),
            Format::Ndjson,
            "application/x-ndjson",
        ),
    ] {
        let reply = post(&server.url(org, workflow), None, accept, &body).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type, content_type);
        let cli = run_bytes(&engine, &sample, org, workflow, &body, format)
            .await
            .unwrap();
        assert!(
            reply.body == cli,
            "{accept:?}: the body differs from `flowlake query --format {format:?}`"
        );
    }
    let rows = post(&server.url(org, workflow), None, None, &body)
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(rows, 206);
    server.stop().await;
}
