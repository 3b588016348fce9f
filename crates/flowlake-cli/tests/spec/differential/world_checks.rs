//! The generated cases and lake cover what the differential test claims.

use super::*;

/// The random cases are not trivially empty: many return rows, some are errors.
#[test]
fn random_cases_cover_rows_errors_and_empty_answers() {
    let w = world();
    let (mut with_rows, mut empty, mut errors, mut related, mut unrelated) = (0, 0, 0, 0, 0);
    for seed in 0..300u64 {
        let (case, _) = random_case(seed);
        let rows = &w.orgs.iter().find(|(o, _)| *o == case.org).expect("org").1;
        match reference::evaluate(&w.root, rows, &case) {
            Ok(v) => {
                let data = v["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    empty += 1
                } else {
                    with_rows += 1
                }
                related += data
                    .iter()
                    .filter(|r| r["workflow_related"] == json!(true))
                    .count();
                unrelated += data
                    .iter()
                    .filter(|r| r["workflow_related"] == json!(false))
                    .count();
            }
            Err(_) => errors += 1,
        }
    }
    assert!(with_rows >= 90, "only {with_rows} of 300 cases return rows");
    assert!(empty >= 20 && errors >= 5, "empty {empty}, errors {errors}");
    assert!(
        related > 0 && unrelated > 0,
        "workflow_related true {related}, false {unrelated}"
    );
}

#[test]
fn the_differential_lake_has_the_edge_cases_it_claims() {
    let w = world();
    for (_, rows) in &w.orgs {
        // Sessions across midnight: one session in two day folders.
        let mut days_by_session: std::collections::HashMap<&str, std::collections::BTreeSet<&str>> =
            Default::default();
        for r in rows {
            days_by_session
                .entry(r.get("session_id").unwrap_or(""))
                .or_default()
                .insert(r.date.as_str());
        }
        assert!(
            days_by_session.values().any(|d| d.len() > 1),
            "no session crosses midnight"
        );
        // Timestamp ties and goals before entry exist.
        let mut stamps: Vec<i64> = rows.iter().map(|r| r.ts).collect();
        stamps.sort();
        assert!(stamps.windows(2).any(|p| p[0] == p[1]), "no timestamp ties");
        assert!(rows.iter().any(|r| r.get("vendor").is_none()), "no nulls");
    }
    let (a, b) = (&w.orgs[0].1, &w.orgs[1].1);
    let shared = a
        .iter()
        .filter(|r| b.iter().any(|s| s.get("session_id") == r.get("session_id")))
        .count();
    assert!(shared > 0, "no session ids shared across organizations");
    assert!(Path::new(&w.root).join("goals.json").exists());
}
