//! Simulates one visitor session: page views, interaction paths that branch, user-generated
//! workflow steps, and goal triggers that are more likely after some paths.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::model::{Organization, uuid};
use crate::format::event::Event;

const SECOND_US: i64 = 1_000_000;

/// Draws the events of one session starting at `start_us`, in time order.
pub fn simulate(org: &Organization, rng: &mut ChaCha8Rng, start_us: i64) -> Vec<Event> {
    let mut session = Session::new(org, rng, start_us);
    session.run();
    session.events
}

struct Session<'a> {
    org: &'a Organization,
    rng: &'a mut ChaCha8Rng,
    template: Event,
    now_us: i64,
    events: Vec<Event>,
    /// Probability of a conversion at the end, raised by paths that lead to one.
    conversion: f64,
}

impl<'a> Session<'a> {
    fn new(org: &'a Organization, rng: &'a mut ChaCha8Rng, start_us: i64) -> Self {
        let visitor = org
            .visitors
            .choose(rng)
            .cloned()
            .expect("organizations have visitors");
        let source = [Some("trusted"), Some("trusted"), Some("untrusted"), None]
            .choose(rng)
            .copied()
            .flatten();
        let template = Event {
            vendor: rng.random_bool(0.9).then(|| "flowlake-sdk".to_string()),
            source: source.map(String::from),
            visitor_id: visitor.id.clone(),
            session_id: uuid(rng),
            user_id: visitor.user_id.clone(),
            browser_name: visitor.browser.map(|b| b.0.to_string()),
            browser_version: visitor.browser.map(|b| b.1.to_string()),
            device_type: visitor.device.map(String::from),
            os_name: visitor.os.map(|o| o.0.to_string()),
            os_version: visitor.os.map(|o| o.1.to_string()),
            geo_country: visitor.geo.map(|g| g.0.to_string()),
            geo_city: visitor.geo.and_then(|g| g.1).map(String::from),
            ip_organization: visitor.ip_organization.map(String::from),
            ..Default::default()
        };
        Session {
            org,
            rng,
            template,
            now_us: start_us,
            events: Vec::new(),
            conversion: 0.12,
        }
    }

    /// Advances the clock; now and then not at all, so timestamps tie.
    fn tick(&mut self) {
        if !self.rng.random_bool(0.04) {
            self.now_us += self.rng.random_range(2 * SECOND_US..90 * SECOND_US)
                + self.rng.random_range(0..1000);
        }
    }

    fn push(
        &mut self,
        category: &str,
        action: &str,
        label: &str,
        fill: impl FnOnce(&mut Event, &mut ChaCha8Rng),
    ) {
        self.tick();
        let mut event = self.template.clone();
        event.timestamp_us = self.now_us;
        event.event_id = uuid(self.rng);
        event.category = category.to_string();
        event.action = action.to_string();
        event.label = label.to_string();
        if self.rng.random_bool(0.3) {
            let count = self.rng.random_range(1..3);
            let rooms = self
                .org
                .rooms
                .choose_multiple(self.rng, count)
                .cloned()
                .collect();
            event.room_ids = Some(rooms);
        }
        if self.rng.random_bool(0.25) {
            let campaign = ["spring", "summer", "brand", "retarget"]
                .choose(self.rng)
                .copied()
                .unwrap_or("spring");
            event.dims[0] = Some(campaign.to_string());
        }
        fill(&mut event, self.rng);
        self.events.push(event);
    }

    fn page_view(&mut self, page: usize) {
        let url = self.org.pages[page % self.org.pages.len()].clone();
        self.push("pageview", "view", "page", |e, _| e.page_url = Some(url));
        // The checkout pages lead to purchases.
        if (6..=8).contains(&page) {
            self.conversion += 0.2;
        }
    }

    fn goal(&mut self, boost_purchase: bool) {
        let goals = &self.org.goals;
        let goal = if boost_purchase && self.rng.random_bool(0.6) {
            &goals[1]
        } else {
            goals.choose(self.rng).expect("goals")
        };
        let (label, is_purchase) = (goal.id.clone(), goal.name.as_deref() == Some("Purchase"));
        self.push("goal", "trigger", &label, |e, rng| {
            if is_purchase || rng.random_bool(0.3) {
                e.value = Some((rng.random_range(500..40_000) as f64) / 100.0);
            }
            if rng.random_bool(0.4) {
                let plan = ["free", "pro", "team"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("free");
                e.properties = Some(vec![
                    format!("plan={plan}"),
                    "utm_source=newsletter".to_string(),
                ]);
            }
        });
    }

    /// An interaction shown: an impression, maybe a start and a path of views that
    /// branches through the interaction's view graph.
    fn interaction(&mut self) {
        let weights = [5, 3, 3, 2, 2, 1];
        let index = (0..self.org.interactions.len()).collect::<Vec<_>>();
        let pick = *index
            .choose_weighted(self.rng, |i| weights[*i % weights.len()])
            .unwrap_or(&0);
        let interaction = self.org.interactions[pick].clone();
        self.push("widget", "impression", &interaction.id, |_, _| {});
        if !self.rng.random_bool(0.7) {
            return;
        }
        self.push("widget", "start", &interaction.id, |_, _| {});
        // View graph: 0 → {1, 2}; 1 → {3}; 2 → {3, 4}; 3 → {4}.
        let mut view = 0usize;
        for _ in 0..self.rng.random_range(1..=4) {
            let uid = interaction.views[view].clone();
            self.push("widget", "view", &interaction.id, |e, _| {
                e.view_uid = Some(uid)
            });
            if self.rng.random_bool(0.3) {
                self.push("widget", "click", &interaction.id, |_, _| {});
            }
            view = match view {
                0 => *[1, 2].choose(self.rng).unwrap_or(&1),
                1 => 3,
                2 => *[3, 4].choose(self.rng).unwrap_or(&3),
                _ => 4,
            };
        }
        // Reaching the last view converts well.
        if view == 4 {
            self.conversion += 0.35;
        }
    }

    fn user_generated_steps(&mut self) {
        let workflow = self.org.user_generated_workflow.clone();
        for step in 1..=self.rng.random_range(1..=4) {
            let action = ["step_viewed", "step_completed"]
                .choose(self.rng)
                .copied()
                .unwrap_or("step_viewed");
            self.push("workflowReportingEvent", action, &workflow, |e, _| {
                e.dims[4] = Some(step.to_string())
            });
        }
    }

    fn run(&mut self) {
        // Some goals happen before the visitor enters any workflow.
        if self.rng.random_bool(0.08) {
            self.goal(false);
        }
        let mut page = self.rng.random_range(0..4);
        for _ in 0..self.rng.random_range(0..3) {
            self.page_view(page);
            page += self.rng.random_range(1..3);
        }
        if self.rng.random_bool(0.6) {
            self.interaction();
        }
        if self.rng.random_bool(0.25) {
            self.user_generated_steps();
        }
        for _ in 0..self.rng.random_range(0..4) {
            self.page_view(page);
            page += self.rng.random_range(1..3);
        }
        if self.rng.random_bool(self.conversion.min(0.95)) {
            let boost = self.conversion > 0.3;
            self.goal(boost);
        }
        if self.rng.random_bool(0.05) {
            self.goal(false);
        }
    }
}
