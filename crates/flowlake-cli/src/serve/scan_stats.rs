//! What the Parquet scans of the plans behind an answer read and skipped, from their
//! metrics (for the server's metrics).

use datafusion::physical_plan::ExecutionPlan;

/// What the Parquet scans of an executed (or partly executed) plan read and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Bytes read from Parquet files (DataFusion's `bytes_scanned`).
    pub bytes_scanned: u64,
    /// Row groups pruned by their min/max statistics.
    pub pruned_by_statistics: u64,
    /// Row groups pruned by bloom filters.
    pub pruned_by_bloom_filter: u64,
    /// Row groups skipped because the limit was already reached.
    pub pruned_by_limit: u64,
    /// Row groups pruned by filters learned while running (joins, top-k).
    pub pruned_by_dynamic_filter: u64,
}

impl ScanStats {
    /// The totals over every node of every plan in `plans`.
    pub fn of_all(plans: &[std::sync::Arc<dyn ExecutionPlan>]) -> ScanStats {
        let mut stats = ScanStats::default();
        for plan in plans {
            stats.add(plan.as_ref());
        }
        stats
    }

    fn add(&mut self, plan: &dyn ExecutionPlan) {
        use datafusion::physical_plan::metrics::MetricValue;
        if let Some(metrics) = plan.metrics() {
            for metric in metrics.iter() {
                match metric.value() {
                    MetricValue::Count { name, count } => match name.as_ref() {
                        "bytes_scanned" => self.bytes_scanned += count.value() as u64,
                        "row_groups_pruned_dynamic_filter" => {
                            self.pruned_by_dynamic_filter += count.value() as u64
                        }
                        _ => {}
                    },
                    MetricValue::PruningMetrics {
                        name,
                        pruning_metrics,
                    } => {
                        let pruned = pruning_metrics.pruned() as u64;
                        match name.as_ref() {
                            "row_groups_pruned_statistics" => self.pruned_by_statistics += pruned,
                            "row_groups_pruned_bloom_filter" => {
                                self.pruned_by_bloom_filter += pruned
                            }
                            "limit_pruned_row_groups" => self.pruned_by_limit += pruned,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        for child in plan.children() {
            self.add(child.as_ref());
        }
    }

    /// The pruned row groups by what pruned them, as metric labels.
    pub fn row_groups_pruned(&self) -> [(&'static str, u64); 4] {
        [
            ("statistics", self.pruned_by_statistics),
            ("bloom_filter", self.pruned_by_bloom_filter),
            ("limit", self.pruned_by_limit),
            ("dynamic_filter", self.pruned_by_dynamic_filter),
        ]
    }
}
