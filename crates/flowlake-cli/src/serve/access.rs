//! Access control of SPEC §6: bearer tokens stored as SHA-256 digests, the organizations
//! each may read and its permissions, and a subscription flag per organization.
//!
//! The access file (JSON):
//! ```json
//! {"organizations": [{"id": "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d", "subscription": true}],
//!  "tokens": [{"name": "dashboard", "sha256": "<64 hex digits>",
//!              "organizations": ["8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d"], "permissions": ["reporting"]}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use flowlake::error::{Denial, Error, Result};

/// A permission a token may hold. Only the known ones are accepted: a misspelt one
/// (`"reportin"`) refuses the file rather than silently granting nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Permission {
    /// What the Workflow source data API needs.
    Reporting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    organizations: Vec<OrganizationEntry>,
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationEntry {
    id: String,
    subscription: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    /// A label for logs and operators; never the token.
    name: Option<String>,
    sha256: String,
    organizations: Vec<String>,
    #[serde(default)]
    permissions: Vec<Permission>,
}

/// One token: its digest and what it may do.
#[derive(Debug)]
struct Grant {
    name: String,
    digest: [u8; 32],
    organizations: BTreeSet<Uuid>,
    reporting: bool,
}

/// The parsed access file.
#[derive(Debug)]
pub struct Access {
    subscriptions: BTreeMap<Uuid, bool>,
    grants: Vec<Grant>,
}

/// Who a request was allowed as (the token's name, for the access log).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
}

impl Access {
    /// Reads and checks an access file.
    pub fn load(path: &Path) -> Result<Access, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Usage {
            message: format!("reading the access file {}: {e}", path.display()),
        })?;
        Access::rules(&bytes).map_err(|why| Error::Usage {
            message: format!("access file {}: {why}", path.display()),
        })
    }

    /// Parses an access file's JSON.
    pub fn parse(bytes: &[u8]) -> Result<Access, Error> {
        Access::rules(bytes).map_err(|message| Error::Usage { message })
    }

    /// The rules of an access file, or what is wrong with it.
    fn rules(bytes: &[u8]) -> Result<Access, String> {
        let file: AccessFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut subscriptions = BTreeMap::new();
        for org in file.organizations {
            let id = parse_uuid(&org.id)?;
            if subscriptions.insert(id, org.subscription).is_some() {
                return Err(format!("organization {id} is listed twice"));
            }
        }
        let mut grants = Vec::with_capacity(file.tokens.len());
        for (index, token) in file.tokens.into_iter().enumerate() {
            let name = token.name.unwrap_or_else(|| format!("tokens[{index}]"));
            let digest = parse_digest(&token.sha256)
                .ok_or_else(|| format!("{name}: sha256 must be 64 hex digits"))?;
            if grants.iter().any(|g: &Grant| g.digest == digest) {
                return Err(format!("{name}: the same token digest is listed twice"));
            }
            let reporting = token.permissions.contains(&Permission::Reporting);
            let organizations = token
                .organizations
                .iter()
                .map(|id| parse_uuid(id))
                .collect::<Result<_, _>>()?;
            grants.push(Grant {
                name,
                digest,
                organizations,
                reporting,
            });
        }
        Ok(Access {
            subscriptions,
            grants,
        })
    }

    /// Checks a request's `Authorization` header value against the organization of its URL,
    /// in SPEC §5's order: 401, then 403 `no_subscription`, `no_org_access`,
    /// `no_reporting_permission`. An organization id that is not a UUID is unknown, so it
    /// has no subscription; UUIDs match whatever their case.
    pub fn authorize(&self, authorization: Option<&str>, organization_id: &str) -> Result<Caller> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(Error::Unauthenticated)?;
        let grant = self.find(token).ok_or(Error::Unauthenticated)?;
        let organization = Uuid::parse_str(organization_id).ok();
        let subscribed = organization
            .and_then(|org| self.subscriptions.get(&org).copied())
            .unwrap_or(false);
        if !subscribed {
            return Err(Error::Forbidden(Denial::NoSubscription));
        }
        if !organization.is_some_and(|org| grant.organizations.contains(&org)) {
            return Err(Error::Forbidden(Denial::NoOrgAccess));
        }
        if !grant.reporting {
            return Err(Error::Forbidden(Denial::NoReportingPermission));
        }
        Ok(Caller {
            name: grant.name.clone(),
        })
    }

    /// The grant whose digest is the token's. Every digest is compared, in constant time,
    /// so timing says nothing about how close a guess was or which entry matched.
    fn find(&self, token: &str) -> Option<&Grant> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for grant in &self.grants {
            if bool::from(grant.digest.ct_eq(&digest)) {
                found = Some(grant);
            }
        }
        found
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn parse_uuid(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|e| format!("'{text}' is not an organization UUID: {e}"))
}

fn parse_digest(hex_text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    bytes.try_into().ok()
}

/// The SHA-256 hex digest of a token, as stored in the access file.
pub fn digest_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0a000000-0000-4000-8000-00000000000a";
    const B: &str = "0b000000-0000-4000-8000-00000000000b";
    const UNSUBSCRIBED: &str = "0c000000-0000-4000-8000-00000000000c";

    fn access() -> Access {
        let file = serde_json::json!({
            "organizations": [{"id": A, "subscription": true}, {"id": B, "subscription": true}, {"id": UNSUBSCRIBED, "subscription": false}],
            "tokens": [
                {"name": "a-reporter", "sha256": digest_hex("token-a"), "organizations": [A, UNSUBSCRIBED], "permissions": ["reporting"]},
                {"name": "a-viewer", "sha256": digest_hex("token-a-viewer").to_uppercase(), "organizations": [A], "permissions": []},
            ]
        });
        Access::parse(file.to_string().as_bytes()).unwrap()
    }

    fn code(result: Result<Caller>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn checks_run_in_the_spec_order() {
        let access = access();
        assert_eq!(code(access.authorize(None, A)), "unauthenticated");
        assert_eq!(
            code(access.authorize(Some("Bearer nope"), A)),
            "unauthenticated"
        );
        assert_eq!(
            code(access.authorize(Some("Basic token-a"), A)),
            "unauthenticated"
        );
        assert_eq!(
            code(access.authorize(Some("Bearer token-a"), UNSUBSCRIBED)),
            "no_subscription"
        );
        assert_eq!(
            code(access.authorize(Some("Bearer token-a"), "not-a-uuid")),
            "no_subscription"
        );
        assert_eq!(
            code(access.authorize(Some("Bearer token-a"), B)),
            "no_org_access"
        );
        assert_eq!(
            code(access.authorize(Some("Bearer token-a-viewer"), B)),
            "no_org_access"
        );
        assert_eq!(
            code(access.authorize(Some("Bearer token-a-viewer"), A)),
            "no_reporting_permission"
        );
        assert_eq!(code(access.authorize(Some("bearer  token-a "), A)), "ok");
        assert_eq!(
            code(access.authorize(Some("Bearer token-a"), &A.to_uppercase())),
            "ok"
        );
    }

    #[test]
    fn an_unknown_permission_is_refused_not_ignored() {
        let file = |permission: &str| {
            serde_json::json!({"organizations": [{"id": A, "subscription": true}],
                "tokens": [{"name": "typo", "sha256": digest_hex("t"), "organizations": [A], "permissions": [permission]}]})
            .to_string()
        };
        let refused = Access::parse(file("reportin").as_bytes()).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("unknown variant `reportin`, expected `reporting`"),
            "{refused}"
        );
        assert!(Access::parse(file("reporting").as_bytes()).is_ok());
    }

    #[test]
    fn malformed_access_files_are_refused() {
        for text in [
            r#"{"organizations": [], "tokens": [{"sha256": "abc", "organizations": []}]}"#,
            r#"{"organizations": [], "tokens": [], "extra": 1}"#,
            r#"{"organizations": [{"id": "x", "subscription": true}], "tokens": []}"#,
        ] {
            assert!(Access::parse(text.as_bytes()).is_err(), "{text}");
        }
    }
}
