//! The synthetic world of one organization: its goals, interactions with their views,
//! pages, workflows of every type, and visitors.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use crate::format::catalog_files::{GoalEntry, WorkflowEntry};

/// A random (v4) UUID drawn from the generator's seeded stream.
pub fn uuid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// An interaction and its views; views form a small graph that paths branch through.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub id: String,
    pub views: Vec<String>,
}

/// A returning visitor with a stable browsing context.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub id: String,
    pub user_id: Option<String>,
    pub browser: Option<(&'static str, &'static str)>,
    pub device: Option<&'static str>,
    pub os: Option<(&'static str, &'static str)>,
    pub geo: Option<(&'static str, Option<&'static str>)>,
    pub ip_organization: Option<&'static str>,
}

/// Everything one organization's events are drawn from.
#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub goals: Vec<GoalEntry>,
    pub interactions: Vec<Interaction>,
    pub pages: Vec<String>,
    pub workflows: Vec<WorkflowEntry>,
    pub user_generated_workflow: String,
    pub visitors: Vec<Visitor>,
    pub rooms: Vec<String>,
}

const GOAL_NAMES: &[&str] = &[
    "Signup",
    "Purchase",
    "Newsletter",
    "Demo request",
    "Download whitepaper",
    "Contact — sales",
];
const PAGES: &[&str] = &[
    "",
    "products",
    "products/shoes",
    "products/bags",
    "pricing",
    "cart",
    "checkout",
    "checkout/payment",
    "thanks",
    "blog",
    "blog/spring-sale",
    "about",
    "contact",
    "café/menü",
];
const BROWSERS: &[(&str, &str)] = &[
    ("Chrome", "131.0"),
    ("Firefox", "133.0"),
    ("Safari", "18.1"),
    ("Edge", "131.0"),
];
const OSES: &[(&str, &str)] = &[
    ("Windows", "11"),
    ("macOS", "15.1"),
    ("iOS", "18.1"),
    ("Android", "15"),
    ("Linux", "6.11"),
];
const DEVICES: &[&str] = &["desktop", "mobile", "tablet"];
const GEO: &[(&str, Option<&str>)] = &[
    ("FI", Some("Helsinki")),
    ("DE", Some("Berlin")),
    ("US", Some("New York")),
    ("US", Some("San Francisco")),
    ("JP", Some("東京")),
    ("BR", Some("São Paulo")),
    ("FR", None),
    ("SE", Some("Göteborg")),
];
const IP_ORGS: &[&str] = &["Telia", "Deutsche Telekom", "Comcast", "NTT", "Vivo"];

fn maybe<T: Copy>(rng: &mut ChaCha8Rng, p_some: f64, options: &[T]) -> Option<T> {
    if rng.random_bool(p_some) {
        options.choose(rng).copied()
    } else {
        None
    }
}

impl Organization {
    /// Draws an organization with `visitors` returning visitors.
    pub fn draw(rng: &mut ChaCha8Rng, visitors: usize) -> Organization {
        let id = uuid(rng);
        let goals = GOAL_NAMES
            .iter()
            .map(|name| GoalEntry {
                id: uuid(rng),
                organization_id: id.clone(),
                name: Some(name.to_string()),
            })
            .collect();
        let interactions: Vec<Interaction> = (0..6)
            .map(|_| Interaction {
                id: uuid(rng),
                views: (0..5).map(|_| uuid(rng)).collect(),
            })
            .collect();
        let host = format!("https://shop-{}.example.com/", &id[..4]);
        let pages = PAGES.iter().map(|p| format!("{host}{p}")).collect();
        let mut workflow =
            |kind: &'static str, name: &str, interaction_ids: Option<Vec<String>>| WorkflowEntry {
                id: uuid(rng),
                organization_id: id.clone(),
                kind: kind.to_string(),
                name: Some(name.to_string()),
                interaction_ids,
            };
        let workflows = vec![
            workflow(
                "interaction",
                "Spring campaign",
                Some(vec![interactions[0].id.clone(), interactions[1].id.clone()]),
            ),
            workflow(
                "interaction",
                "Onboarding tour",
                Some(interactions[2..5].iter().map(|i| i.id.clone()).collect()),
            ),
            workflow("web_navigation", "Checkout funnel", None),
            workflow("user_generated", "Support flow", None),
            workflow("voice_video", "Video consultations", None),
            workflow("chat", "Live chat", None),
        ];
        let user_generated_workflow = workflows[3].id.clone();
        let visitors = (0..visitors.max(1))
            .map(|_| Visitor {
                id: uuid(rng),
                user_id: if rng.random_bool(0.1) {
                    Some(format!("user-{}", rng.random_range(1..500)))
                } else {
                    None
                },
                browser: maybe(rng, 0.95, BROWSERS),
                device: maybe(rng, 0.9, DEVICES),
                os: maybe(rng, 0.9, OSES),
                geo: maybe(rng, 0.92, GEO),
                ip_organization: maybe(rng, 0.6, IP_ORGS),
            })
            .collect();
        let rooms = (0..4).map(|_| uuid(rng)).collect();
        Organization {
            id,
            goals,
            interactions,
            pages,
            workflows,
            user_generated_workflow,
            visitors,
            rooms,
        }
    }
}
