//! The entries of the lake's two catalog files, `workflows.json` and `goals.json`, as they
//! are written (by `generate`) and read (by the catalog, which checks them). Identifiers
//! and the workflow's type stay text here: the catalog says which entries are valid.

use serde::{Deserialize, Serialize};

/// One entry of `workflows.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowEntry {
    pub id: String,
    pub organization_id: String,
    /// `interaction`, `web_navigation`, `user_generated`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The interactions of an `interaction` workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction_ids: Option<Vec<String>>,
}

/// One entry of `goals.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalEntry {
    pub id: String,
    pub organization_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
