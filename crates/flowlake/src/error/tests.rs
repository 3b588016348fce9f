//! The error kinds, their codes and how foreign errors are classified.

use datafusion::error::DataFusionError;

use super::*;

#[test]
fn every_status_has_its_spec_code() {
    let cases: Vec<(Error, u16, &str)> = vec![
        (Error::bad_request("x"), 400, "bad_request"),
        (Error::Unauthenticated, 401, "unauthenticated"),
        (
            Error::Forbidden(Denial::NoSubscription),
            403,
            "no_subscription",
        ),
        (Error::Forbidden(Denial::NoOrgAccess), 403, "no_org_access"),
        (
            Error::Forbidden(Denial::NoReportingPermission),
            403,
            "no_reporting_permission",
        ),
        (
            Error::WorkflowNotFound {
                organization_id: "o".into(),
                workflow_id: "w".into(),
            },
            404,
            "not_found",
        ),
        (
            Error::UnsupportedFilter {
                property: "p".into(),
                supported: "label".into(),
            },
            406,
            "not_implemented",
        ),
        (Error::internal("x"), 500, "internal"),
        (
            Error::StorageUnavailable {
                message: "x".into(),
                source: None,
            },
            503,
            "storage_unavailable",
        ),
        (
            Error::ClusterUnavailable {
                address: "df://h:1".into(),
                message: "x".into(),
            },
            503,
            "cluster_unavailable",
        ),
    ];
    for (err, status, code) in cases {
        assert_eq!(err.status(), status, "{err:?}");
        assert_eq!(err.code(), code, "{err:?}");
    }
}

#[test]
fn resources_exhausted_is_a_500_that_says_so() {
    let err: Error = DataFusionError::ResourcesExhausted("pool full".into()).into();
    assert_eq!(err.status(), 500);
    assert!(err.to_string().starts_with("resources exhausted"));
}

#[test]
fn wrappers_are_said_once() {
    let err: Error =
        DataFusionError::ResourcesExhausted("Resources exhausted: pool full".into()).into();
    assert_eq!(err.to_string(), "resources exhausted: pool full");
    let err: Error =
        DataFusionError::Execution("Parquet error: Parquet error: EOF in x.parquet".into()).into();
    assert!(
        !err.to_string().contains("Parquet error: Parquet error"),
        "{err}"
    );
    assert!(
        err.to_string().contains("Parquet error: EOF in x.parquet"),
        "{err}"
    );
    let err: Error = DataFusionError::Execution(
        "Io error: IO error: No space left on device (os error 28)".into(),
    )
    .into();
    assert!(
        err.to_string().contains("IO error: No space left")
            && !err.to_string().contains("Io error"),
        "{err}"
    );
}

#[test]
fn our_error_survives_a_trip_through_datafusion() {
    let inner = Error::Data {
        message: "file a.parquet: bad".into(),
        source: None,
    };
    let err: Error = DataFusionError::External(Box::new(inner)).into();
    assert!(matches!(err, Error::Data { ref message , .. } if message.contains("a.parquet")));
}

#[test]
fn the_underlying_error_stays_in_the_chain_of_sources() {
    use datafusion::parquet::errors::ParquetError;
    let err: Error =
        DataFusionError::ParquetError(Box::new(ParquetError::EOF("x.parquet".into()))).into();
    assert!(matches!(err, Error::Data { .. }), "{err:?}");
    let mut chain = std::error::Error::source(&err);
    let mut found = false;
    while let Some(link) = chain {
        found |= link.downcast_ref::<ParquetError>().is_some();
        chain = link.source();
    }
    assert!(found, "the Parquet error is found by its type: {err:?}");
    let store: Error = object_store::Error::NotFound {
        path: "a".into(),
        source: "gone".into(),
    }
    .into();
    let source = std::error::Error::source(&store).and_then(|cause| cause.source());
    assert!(
        source.is_some_and(|e| e.downcast_ref::<object_store::Error>().is_some()),
        "{store:?}"
    );
}

#[test]
fn error_json_is_one_line_with_status_error_message() {
    let json = Error::bad_request("limit must be ≥ 1").to_json();
    assert!(!json.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(v["error"], "bad_request");
    assert_eq!(v["message"], "limit must be ≥ 1");
}
