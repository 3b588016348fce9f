//! A plain, obviously-correct evaluator of SPEC §3–§4, written directly over rows read
//! with the Parquet reader (no DataFusion). The differential test checks the engine
//! against it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

/// Every string column of SPEC §1, in order, with `properties`/`room_ids` handled apart.
pub const COLUMNS: &[&str] = &[
    "timestamp",
    "event_id",
    "vendor",
    "source",
    "category",
    "action",
    "label",
    "value",
    "properties",
    "room_ids",
    "view_uid",
    "page_url",
    "dim1",
    "dim2",
    "dim3",
    "dim4",
    "dim5",
    "visitor_id",
    "session_id",
    "user_id",
    "browser_name",
    "browser_version",
    "device_type",
    "os_name",
    "os_version",
    "geo_country",
    "geo_city",
    "ip_organization",
];
const NON_NULL: &[&str] = &[
    "timestamp",
    "event_id",
    "category",
    "action",
    "label",
    "visitor_id",
    "session_id",
];

/// One event as read from a file, plus its folder's date.
#[derive(Debug, Clone)]
pub struct Row {
    pub ts: i64,
    pub text: HashMap<&'static str, Option<String>>,
    pub lists: HashMap<&'static str, Option<Vec<String>>>,
    pub value: Option<f64>,
    pub date: String,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&str> {
        self.text.get(column).and_then(|v| v.as_deref())
    }
}

/// All rows of one organization, from every day folder (no pruning).
pub fn load_rows(lake: &Path, org: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let org_dir = lake.join("events").join(format!("organization_id={org}"));
    let Ok(days) = std::fs::read_dir(&org_dir) else {
        return rows;
    };
    for day in days.flatten() {
        let date = day
            .file_name()
            .to_string_lossy()
            .trim_start_matches("date=")
            .to_string();
        // SPEC §1: with a manifest, the day is exactly the files it names.
        let named: Option<Vec<String>> =
            std::fs::read(day.path().join("_manifest.json"))
                .ok()
                .map(|bytes| {
                    let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
                    manifest["files"]
                        .as_array()
                        .expect("files")
                        .iter()
                        .map(|f| f.as_str().expect("name").to_string())
                        .collect()
                });
        for file in std::fs::read_dir(day.path()).expect("day folder").flatten() {
            let name = file.file_name().to_string_lossy().to_string();
            if !name.ends_with(".parquet") || name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if named.as_ref().is_some_and(|files| !files.contains(&name)) {
                continue;
            }
            let reader = ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(file.path()).expect("open"),
            )
            .expect("parquet")
            .build()
            .expect("reader");
            for batch in reader {
                let batch = batch.expect("batch");
                let schema = batch.schema();
                let column = |name: &str| {
                    schema
                        .index_of(name)
                        .ok()
                        .map(|i| Arc::clone(batch.column(i)))
                };
                let ts = cast(
                    &column("timestamp").expect("timestamp"),
                    &DataType::Timestamp(TimeUnit::Microsecond, None),
                )
                .expect("ts");
                let ts = ts.as_primitive::<TimestampMicrosecondType>();
                let value = column("value").map(|c| cast(&c, &DataType::Float64).expect("value"));
                let list_type = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
                let mut texts = Vec::new();
                let mut lists = Vec::new();
                for &name in COLUMNS {
                    match name {
                        "timestamp" | "value" => {}
                        "properties" | "room_ids" => lists.push((
                            name,
                            column(name).map(|c| cast(&c, &list_type).expect("list")),
                        )),
                        _ => texts.push((
                            name,
                            column(name).map(|c| cast(&c, &DataType::Utf8).expect("utf8")),
                        )),
                    }
                }
                for i in 0..batch.num_rows() {
                    let mut row = Row {
                        ts: ts.value(i),
                        text: HashMap::new(),
                        lists: HashMap::new(),
                        value: None,
                        date: date.clone(),
                    };
                    row.value = value.as_ref().and_then(|v| {
                        let v = v.as_primitive::<Float64Type>();
                        (!v.is_null(i)).then(|| v.value(i))
                    });
                    for (name, array) in &texts {
                        let v = array.as_ref().and_then(|a| {
                            let a = a.as_string::<i32>();
                            (!a.is_null(i)).then(|| a.value(i).to_string())
                        });
                        row.text.insert(name, v);
                    }
                    for (name, array) in &lists {
                        let v = array.as_ref().and_then(|a| {
                            let a = a.as_list::<i32>();
                            (!a.is_null(i)).then(|| {
                                let items = a.value(i);
                                let items = items.as_string::<i32>();
                                (0..items.len())
                                    .filter(|j| !items.is_null(*j))
                                    .map(|j| items.value(j).to_string())
                                    .collect()
                            })
                        });
                        row.lists.insert(name, v);
                    }
                    rows.push(row);
                }
            }
        }
    }
    rows
}

/// One request in the reference's own terms: instants, not text.
#[derive(Debug, Clone)]
pub struct Case {
    pub org: String,
    pub workflow: String,
    pub filters: Vec<(String, Vec<String>)>,
    /// `step_data` elements, element 0 included; `None` = no `actions` key.
    pub step_data: Option<Vec<Option<Vec<String>>>>,
    pub start_us: i64,
    pub end_us: i64,
    pub limit: Option<usize>,
    pub total: bool,
    pub basic: bool,
}

fn ts_text(us: i64, digits: usize) -> String {
    let t = DateTime::from_timestamp_micros(us).expect("instant");
    match digits {
        3 => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        _ => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    }
}

/// The reference answer: `Ok(response)` or `Err(status)`.
pub fn evaluate(lake: &Path, rows: &[Row], case: &Case) -> Result<Value, u16> {
    let workflows: Value =
        serde_json::from_slice(&std::fs::read(lake.join("workflows.json")).expect("catalog"))
            .expect("json");
    let workflow = workflows
        .as_array()
        .expect("array")
        .iter()
        .find(|w| {
            w["id"].as_str().map(str::to_lowercase) == Some(case.workflow.to_lowercase())
                && w["organization_id"].as_str().map(str::to_lowercase)
                    == Some(case.org.to_lowercase())
        })
        .ok_or(404u16)?;
    let kind = workflow["type"].as_str().unwrap_or("");
    let goal_names: BTreeMap<String, String> = std::fs::read(lake.join("goals.json"))
        .ok()
        .map(|b| serde_json::from_slice::<Value>(&b).expect("goals"))
        .into_iter()
        .flat_map(|g| g.as_array().cloned().unwrap_or_default())
        .filter(|g| {
            g["organization_id"].as_str().map(str::to_lowercase) == Some(case.org.to_lowercase())
        })
        .map(|g| {
            (
                g["id"].as_str().unwrap_or("").to_lowercase(),
                g["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    let in_interval: Vec<&Row> = rows
        .iter()
        .filter(|r| r.ts >= case.start_us && r.ts <= case.end_us)
        .collect();
    let ids: Vec<String> = workflow["interaction_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let wf_id = case.workflow.to_lowercase();
    let is_workflow_event = |r: &Row| -> bool {
        match kind {
            "interaction" => {
                r.get("category") == Some("widget")
                    && ids.iter().any(|id| Some(id.as_str()) == r.get("label"))
            }
            "web_navigation" => {
                r.get("category") == Some("pageview") && r.get("page_url").is_some()
            }
            "user_generated" => {
                r.get("category") == Some("workflowReportingEvent")
                    && r.get("label") == Some(wf_id.as_str())
            }
            _ => false,
        }
    };
    if !matches!(kind, "interaction" | "web_navigation" | "user_generated") {
        return Err(406);
    }
    // Path: (ts, event_id, action) per session.
    let mut entry: HashMap<String, i64> = HashMap::new();
    let mut paths: HashMap<String, Vec<(i64, String, String)>> = HashMap::new();
    for r in in_interval.iter().filter(|r| is_workflow_event(r)) {
        let session = r.get("session_id").unwrap_or("").to_string();
        let e = entry.entry(session.clone()).or_insert(r.ts);
        *e = (*e).min(r.ts);
        let step_action = match kind {
            "interaction" if r.get("action") == Some("view") => r.get("view_uid"),
            "web_navigation" => r.get("page_url"),
            _ => None,
        };
        if let Some(action) = step_action {
            paths.entry(session).or_default().push((
                r.ts,
                r.get("event_id").unwrap_or("").to_string(),
                action.to_string(),
            ));
        }
    }
    for path in paths.values_mut() {
        path.sort();
    }
    let constraints: Vec<(usize, &Vec<String>)> = match (&case.step_data, kind) {
        (Some(steps), "interaction" | "web_navigation") => steps
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, a)| a.as_ref().filter(|a| !a.is_empty()).map(|a| (i, a)))
            .collect(),
        _ => Vec::new(),
    };
    let matches = |session: &str| -> bool {
        let path = paths.get(session).map(Vec::as_slice).unwrap_or(&[]);
        constraints
            .iter()
            .all(|(i, actions)| path.get(i - 1).is_some_and(|(_, _, a)| actions.contains(a)))
    };
    let passes_filters = |r: &Row| -> bool {
        case.filters
            .iter()
            .all(|(property, values)| match property.as_str() {
                "room_ids" => r.lists["room_ids"]
                    .as_ref()
                    .is_some_and(|rooms| rooms.iter().any(|x| values.contains(x))),
                "properties" => r.lists["properties"]
                    .as_ref()
                    .is_some_and(|props| values.iter().all(|v| props.contains(v))),
                column => r.get(column).is_some_and(|v| values.iter().any(|x| x == v)),
            })
    };
    let mut goals: Vec<(&Row, bool)> = in_interval
        .iter()
        .filter(|r| {
            r.get("category") == Some("goal")
                && r.get("action") == Some("trigger")
                && passes_filters(r)
        })
        .map(|r| {
            let session = r.get("session_id").unwrap_or("");
            let related = entry
                .get(session)
                .is_some_and(|e| r.ts >= *e && matches(session));
            (*r, related)
        })
        .filter(|(_, related)| case.total || *related)
        .collect();
    goals.sort_by(|a, b| (a.0.ts, a.0.get("event_id")).cmp(&(b.0.ts, b.0.get("event_id"))));
    if let Some(limit) = case.limit {
        goals.truncate(limit);
    }

    let mut fields: Vec<Value> = Vec::new();
    let field = |name: &str, kind: &str, nullable: bool| json!({"name": name, "type": kind, "nullable": nullable});
    if case.basic {
        for (name, kind, nullable) in [
            ("time", "timestamp", false),
            ("goal_id", "string", false),
            ("goal_name", "string", true),
            ("goal_value", "number", true),
            ("visitor_id", "string", false),
            ("session_id", "string", false),
            ("country", "string", true),
            ("city", "string", true),
            ("device", "string", true),
            ("browser", "string", true),
        ] {
            fields.push(field(name, kind, nullable));
        }
    } else {
        for &c in COLUMNS {
            let kind = match c {
                "timestamp" => "timestamp",
                "value" => "number",
                "properties" | "room_ids" => "array<string>",
                _ => "string",
            };
            fields.push(field(c, kind, !NON_NULL.contains(&c)));
        }
        fields.push(field("organization_id", "string", false));
        fields.push(field("date", "date", false));
    }
    if case.total {
        fields.push(field("workflow_related", "boolean", false));
    }
    let text = |r: &Row, c: &str| r.get(c).map(|s| json!(s)).unwrap_or(Value::Null);
    let data: Vec<Value> = goals
        .iter()
        .map(|(r, related)| {
            let mut obj = serde_json::Map::new();
            if case.basic {
                obj.insert("time".into(), json!(ts_text(r.ts, 3)));
                obj.insert("goal_id".into(), text(r, "label"));
                obj.insert(
                    "goal_name".into(),
                    r.get("label")
                        .and_then(|l| goal_names.get(l))
                        .map(|n| json!(n))
                        .unwrap_or(Value::Null),
                );
                obj.insert(
                    "goal_value".into(),
                    r.value.map(|v| json!(v)).unwrap_or(Value::Null),
                );
                for (name, c) in [
                    ("visitor_id", "visitor_id"),
                    ("session_id", "session_id"),
                    ("country", "geo_country"),
                    ("city", "geo_city"),
                    ("device", "device_type"),
                    ("browser", "browser_name"),
                ] {
                    obj.insert(name.into(), text(r, c));
                }
            } else {
                for &c in COLUMNS {
                    let v = match c {
                        "timestamp" => json!(ts_text(r.ts, 6)),
                        "value" => r.value.map(|v| json!(v)).unwrap_or(Value::Null),
                        "properties" | "room_ids" => {
                            r.lists[c].as_ref().map(|l| json!(l)).unwrap_or(Value::Null)
                        }
                        _ => text(r, c),
                    };
                    obj.insert(c.into(), v);
                }
                obj.insert("organization_id".into(), json!(case.org.to_lowercase()));
                obj.insert("date".into(), json!(r.date));
            }
            if case.total {
                obj.insert("workflow_related".into(), json!(related));
            }
            Value::Object(obj)
        })
        .collect();
    Ok(json!({"fields": fields, "data": data}))
}
