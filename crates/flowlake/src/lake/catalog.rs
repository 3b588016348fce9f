//! The catalog files of SPEC §1: `workflows.json` (required) and `goals.json` (optional).

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::{Cause, Error, Result};
use crate::format::catalog_files::{GoalEntry, WorkflowEntry};

/// The file name of the workflow catalog.
pub const WORKFLOWS_FILE: &str = "workflows.json";
/// The file name of the goal-name catalog.
pub const GOALS_FILE: &str = "goals.json";

/// What kind of workflow it is, with what the engine needs to find its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowKind {
    /// Widget events whose label is one of the interaction ids.
    Interaction { interaction_ids: Vec<String> },
    /// Page views with a page URL.
    WebNavigation,
    /// `workflowReportingEvent` events labelled with the workflow id.
    UserGenerated,
    /// A type the engine does not implement (`voice_video`, `chat`, or unknown).
    Unsupported { kind: String },
}

/// One workflow of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: Option<String>,
    pub kind: WorkflowKind,
}

/// The lake's catalog, read once per lake.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    workflows: HashMap<(Uuid, Uuid), Workflow>,
    goal_names: HashMap<Uuid, HashMap<String, String>>,
}

/// Ids in the catalog are compared with event labels in their canonical form (lowercase,
/// hyphenated) when they are UUIDs, as the lake's folder names are.
fn canonical_id(text: &str) -> String {
    Uuid::try_parse(text)
        .map(|id| id.to_string())
        .unwrap_or_else(|_| text.to_string())
}

fn catalog_uuid(file: &str, index: usize, key: &str, text: &str) -> Result<Uuid> {
    Uuid::try_parse(text).map_err(|_| Error::Catalog {
        file: file.to_string(),
        message: format!("entry {index}: {key} '{text}' is not a UUID"),
        source: None,
    })
}

impl Catalog {
    /// Parses the catalog from the bytes of `workflows.json` and, if present, `goals.json`.
    /// `workflows_name`/`goals_name` are the locations used in error messages.
    pub fn parse(
        workflows: &[u8],
        workflows_name: &str,
        goals: Option<(&[u8], &str)>,
    ) -> Result<Catalog> {
        let entries: Vec<WorkflowEntry> =
            serde_json::from_slice(workflows).map_err(|e| Error::Catalog {
                file: workflows_name.to_string(),
                message: e.to_string(),
                source: Cause::of(e),
            })?;
        let mut catalog = Catalog::default();
        for (i, entry) in entries.into_iter().enumerate() {
            let id = catalog_uuid(workflows_name, i, "id", &entry.id)?;
            let organization_id =
                catalog_uuid(workflows_name, i, "organization_id", &entry.organization_id)?;
            let kind = match entry.kind.as_str() {
                "interaction" => WorkflowKind::Interaction {
                    interaction_ids: entry
                        .interaction_ids
                        .unwrap_or_default()
                        .iter()
                        .map(|s| canonical_id(s))
                        .collect(),
                },
                "web_navigation" => WorkflowKind::WebNavigation,
                "user_generated" => WorkflowKind::UserGenerated,
                other => WorkflowKind::Unsupported {
                    kind: other.to_string(),
                },
            };
            // The first entry for an id wins: a catalog is not expected to repeat ids.
            catalog
                .workflows
                .entry((organization_id, id))
                .or_insert(Workflow {
                    id,
                    organization_id,
                    name: entry.name,
                    kind,
                });
        }
        if let Some((bytes, goals_name)) = goals {
            let entries: Vec<GoalEntry> =
                serde_json::from_slice(bytes).map_err(|e| Error::Catalog {
                    file: goals_name.to_string(),
                    message: e.to_string(),
                    source: Cause::of(e),
                })?;
            for (i, goal) in entries.into_iter().enumerate() {
                let org = catalog_uuid(goals_name, i, "organization_id", &goal.organization_id)?;
                if let Some(name) = goal.name {
                    catalog
                        .goal_names
                        .entry(org)
                        .or_default()
                        .entry(canonical_id(&goal.id))
                        .or_insert(name);
                }
            }
        }
        Ok(catalog)
    }

    /// The workflow with that id in that organization: a workflow of another organization
    /// is not found (404), and an interaction workflow without interaction ids is a
    /// catalog error (500).
    pub fn workflow(&self, organization_id: Uuid, workflow_id: Uuid) -> Result<&Workflow> {
        let workflow = self
            .workflows
            .get(&(organization_id, workflow_id))
            .ok_or_else(|| Error::WorkflowNotFound {
                organization_id: organization_id.to_string(),
                workflow_id: workflow_id.to_string(),
            })?;
        if let WorkflowKind::Interaction { interaction_ids } = &workflow.kind
            && interaction_ids.is_empty()
        {
            return Err(Error::Catalog {
                file: WORKFLOWS_FILE.to_string(),
                message: format!("interaction workflow {workflow_id} has no interaction_ids"),
                source: None,
            });
        }
        Ok(workflow)
    }

    /// Goal names of one organization, by goal id.
    pub fn goal_names(&self, organization_id: Uuid) -> HashMap<String, String> {
        self.goal_names
            .get(&organization_id)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "6f1c1e4e-0000-4000-8000-000000000001";
    const OTHER: &str = "6f1c1e4e-0000-4000-8000-000000000002";
    const WF: &str = "6f1c1e4e-0000-4000-8000-0000000000aa";

    fn catalog() -> Catalog {
        let workflows = format!(
            r#"[{{"id":"{WF}","organization_id":"{ORG}","type":"interaction","name":"n","interaction_ids":["ABCDEF01-0000-4000-8000-000000000000"]}},
                {{"id":"6f1c1e4e-0000-4000-8000-0000000000bb","organization_id":"{ORG}","type":"chat","name":"c"}}]"#
        );
        let goals = format!(r#"[{{"id":"g1","organization_id":"{ORG}","name":"Signup"}}]"#);
        Catalog::parse(
            workflows.as_bytes(),
            "workflows.json",
            Some((goals.as_bytes(), "goals.json")),
        )
        .unwrap()
    }

    #[test]
    fn a_workflow_of_another_organization_is_not_found() {
        let c = catalog();
        let wf = Uuid::parse_str(WF).unwrap();
        assert!(c.workflow(Uuid::parse_str(ORG).unwrap(), wf).is_ok());
        let err = c.workflow(Uuid::parse_str(OTHER).unwrap(), wf).unwrap_err();
        assert_eq!(err.status(), 404);
    }

    #[test]
    fn interaction_ids_are_canonical_lowercase() {
        let c = catalog();
        let wf = c
            .workflow(Uuid::parse_str(ORG).unwrap(), Uuid::parse_str(WF).unwrap())
            .unwrap();
        assert_eq!(
            wf.kind,
            WorkflowKind::Interaction {
                interaction_ids: vec!["abcdef01-0000-4000-8000-000000000000".into()]
            }
        );
    }

    #[test]
    fn goal_names_are_per_organization() {
        let c = catalog();
        assert_eq!(
            c.goal_names(Uuid::parse_str(ORG).unwrap())
                .get("g1")
                .map(String::as_str),
            Some("Signup")
        );
        assert!(c.goal_names(Uuid::parse_str(OTHER).unwrap()).is_empty());
    }

    #[test]
    fn malformed_catalog_names_the_file() {
        let err = Catalog::parse(b"{not json", "s3://b/workflows.json", None).unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(err.to_string().contains("s3://b/workflows.json"));
    }
}
