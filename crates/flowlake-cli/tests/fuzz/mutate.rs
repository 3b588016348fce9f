//! Mutated Workflow source data requests: random bytes, and grammar-aware mutations of
//! valid payloads (wrong types in every position, huge and negative numbers, deep nesting,
//! duplicate and unknown keys, unicode, control characters, truncation, byte flips).
//! Shared by the spec tests (a few thousand inputs) and `examples/fuzz_payloads.rs` (millions).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// A valid organization and workflow of the sample lake in `data/`.
pub const SAMPLE_ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
pub const SAMPLE_WORKFLOW: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";

/// One request: URL attributes and the payload bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub organization_id: String,
    pub workflow_id: String,
    pub payload: Vec<u8>,
}

/// Valid payloads covering every key, target, filter kind and step pattern.
pub fn seeds() -> Vec<Value> {
    vec![
        json!({"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-03"}}),
        json!({"filters": [{"property": "label", "values": ["a", "b"]}], "step_data": [{}, {"actions": ["v1"]}, {"actions": []}],
               "interval": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T23:59:59.999Z"}, "limit": 10, "target": "affected_goal", "basic": false}),
        json!({"filters": [{"property": "room_ids", "values": ["r1"]}, {"property": "properties", "values": ["k=v"]}],
               "interval": {"start": "2026-03-01T00:00:00", "end": "2026-03-02T12:00:00", "time_zone": "Europe/Paris"},
               "target": "affected_goal_total", "basic": true}),
        json!({"filters": [{"property": "geo_country", "values": ["FR"]}], "step_data": [{"actions": ["x"]}, {}],
               "interval": {"start": "2026-03-05T10:00:00+02:00", "end": "2026-03-05T18:00:00-05:00"}, "limit": 1}),
    ]
}

/// A deterministic stream of mutated requests.
pub struct Mutator {
    rng: ChaCha8Rng,
    seeds: Vec<Value>,
}

const KEYS: [&str; 11] = [
    "filters",
    "step_data",
    "interval",
    "limit",
    "target",
    "basic",
    "property",
    "values",
    "actions",
    "start",
    "end",
];

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            seeds: seeds(),
        }
    }

    /// The next request: mostly a mutated seed, sometimes random bytes or odd URL attributes.
    pub fn next_request(&mut self) -> Request {
        let payload = match self.rng.random_range(0..100) {
            0..5 => self.random_bytes(),
            5..60 => {
                let mut tree = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
                for _ in 0..self.rng.random_range(1..4) {
                    self.mutate_tree(&mut tree, 0);
                }
                serde_json::to_vec(&tree).unwrap_or_default()
            }
            _ => {
                let tree = &self.seeds[self.rng.random_range(0..self.seeds.len())];
                let mut text = serde_json::to_vec(tree).unwrap_or_default();
                for _ in 0..self.rng.random_range(1..4) {
                    self.mutate_text(&mut text);
                }
                text
            }
        };
        let (organization_id, workflow_id) = match self.rng.random_range(0..20) {
            0 => (self.odd_id(), SAMPLE_WORKFLOW.to_string()),
            1 => (SAMPLE_ORG.to_string(), self.odd_id()),
            2 => (SAMPLE_ORG.to_uppercase(), SAMPLE_WORKFLOW.to_uppercase()),
            _ => (SAMPLE_ORG.to_string(), SAMPLE_WORKFLOW.to_string()),
        };
        Request {
            organization_id,
            workflow_id,
            payload,
        }
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let mut bytes = vec![0u8; self.rng.random_range(0..256)];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    fn odd_id(&mut self) -> String {
        let choices = [
            "",
            "not-a-uuid",
            "8bf400e36fa24d3fa8d4c03c0aa04f6d",
            "{8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d}",
            "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6",
            "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d\u{0}",
            "ü",
        ];
        choices[self.rng.random_range(0..choices.len())].to_string()
    }

    /// A value of any JSON type, often one that is wrong wherever it lands.
    fn odd_value(&mut self, depth: usize) -> Value {
        match self.rng.random_range(0..22) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(i64::MIN),
            5 => json!(u64::MAX),
            6 => serde_json::from_str("18446744073709551616").unwrap_or(Value::Null),
            7 => json!(1.5),
            8 => json!(1e308),
            9 => json!(-0.0),
            10 => json!(""),
            11 => json!("\u{0}\u{1f}\u{7f}\t\n"),
            12 => json!("é漢字🙂\u{202e}"),
            13 => json!("x".repeat(self.rng.random_range(1..5000))),
            14 => json!([]),
            15 => json!({}),
            16 => json!(["2026-03-01", 1, null]),
            17 => json!("9999-12-31T23:59:59.999999999Z"),
            18 => json!("-262143-01-01"),
            19 if depth < 3 => {
                let n = self.rng.random_range(0..4);
                Value::Array((0..n).map(|_| self.odd_value(depth + 1)).collect())
            }
            20 => json!(KEYS[self.rng.random_range(0..KEYS.len())]),
            _ => json!("2026-02-30T25:61:61Z"),
        }
    }

    /// One structural change somewhere in `tree`.
    fn mutate_tree(&mut self, tree: &mut Value, depth: usize) {
        let descend = depth < 6 && self.rng.random_bool(0.6);
        match tree {
            Value::Object(map) if descend && !map.is_empty() => {
                let key = map
                    .keys()
                    .nth(self.rng.random_range(0..map.len()))
                    .cloned()
                    .unwrap_or_default();
                if let Some(child) = map.get_mut(&key) {
                    self.mutate_tree(child, depth + 1);
                }
            }
            Value::Array(items) if descend && !items.is_empty() => {
                let i = self.rng.random_range(0..items.len());
                self.mutate_tree(&mut items[i], depth + 1);
            }
            Value::Object(map) => match self.rng.random_range(0..5) {
                0 if !map.is_empty() => {
                    let key = map
                        .keys()
                        .nth(self.rng.random_range(0..map.len()))
                        .cloned()
                        .unwrap_or_default();
                    map.remove(&key);
                }
                1 => {
                    let key = KEYS[self.rng.random_range(0..KEYS.len())].to_string();
                    let value = self.odd_value(0);
                    map.insert(key, value);
                }
                2 => {
                    let value = self.odd_value(0);
                    map.insert("colour".into(), value);
                }
                3 if !map.is_empty() => {
                    let key = map
                        .keys()
                        .nth(self.rng.random_range(0..map.len()))
                        .cloned()
                        .unwrap_or_default();
                    if let Some(value) = map.remove(&key) {
                        map.insert(key.to_uppercase(), value);
                    }
                }
                _ => *tree = self.odd_value(0),
            },
            Value::Array(items) => match self.rng.random_range(0..4) {
                0 => {
                    let value = self.odd_value(0);
                    items.push(value);
                }
                1 => {
                    let n = self.rng.random_range(100..3000);
                    items.extend(std::iter::repeat_n(json!({}), n));
                }
                2 => items.clear(),
                _ => *tree = self.odd_value(0),
            },
            _ => *tree = self.odd_value(depth),
        }
    }

    /// One textual change: flips, inserts, cuts, nesting, duplicate keys, a BOM.
    fn mutate_text(&mut self, text: &mut Vec<u8>) {
        let at = |rng: &mut ChaCha8Rng, len: usize| {
            if len == 0 {
                0
            } else {
                rng.random_range(0..len)
            }
        };
        match self.rng.random_range(0..10) {
            0 if !text.is_empty() => {
                let i = at(&mut self.rng, text.len());
                text[i] ^= 1 << self.rng.random_range(0..8);
            }
            1 => {
                let i = at(&mut self.rng, text.len());
                const BYTES: &[u8] = b"{}[],:\"\\0-e.nul\x00\xff";
                let byte = BYTES[self.rng.random_range(0..BYTES.len())];
                text.insert(i, byte);
            }
            2 if !text.is_empty() => {
                let i = at(&mut self.rng, text.len());
                text.truncate(i);
            }
            3 => {
                let depth = self.rng.random_range(100..2000);
                let mut nested = "[".repeat(depth).into_bytes();
                nested.extend_from_slice(&"]".repeat(depth).into_bytes());
                let i = text.iter().position(|&b| b == b':').map_or(0, |p| p + 1);
                if i > 0 {
                    let end = text[i..]
                        .iter()
                        .position(|&b| b == b',' || b == b'}')
                        .map_or(text.len(), |p| p + i);
                    text.splice(i..end, nested);
                } else {
                    *text = nested;
                }
            }
            4 if text.first() == Some(&b'{') => {
                let key = KEYS[self.rng.random_range(0..6)];
                text.splice(1..1, format!("\"{key}\":null,").into_bytes());
            }
            5 => text
                .splice(0..0, b"\xEF\xBB\xBF".iter().copied())
                .for_each(drop),
            6 => text.extend_from_slice(b" trailing"),
            7 if !text.is_empty() => {
                let i = at(&mut self.rng, text.len());
                text.splice(i..i, "\u{0}\u{2028}\\ud800".bytes())
                    .for_each(drop);
            }
            8 => {
                *text = text
                    .iter()
                    .map(|b| if *b == b'"' { b'\'' } else { *b })
                    .collect()
            }
            _ => {
                let i = at(&mut self.rng, text.len());
                text.splice(i..i, b"1e999999".iter().copied())
                    .for_each(drop);
            }
        }
    }
}
