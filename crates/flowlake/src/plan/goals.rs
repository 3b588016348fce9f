//! The goal side of SPEC §3: goal triggers that pass every filter.

use datafusion::functions_nested::expr_fn::{array_has_all, array_has_any, make_array};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::in_list;

use crate::query::{Filter, Match};

/// `category = 'goal' AND action = 'trigger'` and every filter (ANDed; values ORed).
pub fn goal_predicate(filters: &[Filter]) -> Expr {
    filters.iter().map(filter_expr).fold(
        col("category")
            .eq(lit("goal"))
            .and(col("action").eq(lit("trigger"))),
        Expr::and,
    )
}

/// One filter as a typed expression: values are literals, never SQL text.
fn filter_expr(filter: &Filter) -> Expr {
    let column = col(filter.property.column);
    let values = || {
        filter
            .values
            .iter()
            .map(|v| lit(v.as_str()))
            .collect::<Vec<_>>()
    };
    match filter.property.matching {
        Match::ValueIn if filter.values.len() == 1 => column.eq(lit(filter.values[0].as_str())),
        Match::ValueIn => in_list(column, values(), false),
        Match::AnyElementIn => array_has_any(column, make_array(values())),
        Match::ContainsAll => array_has_all(column, make_array(values())),
    }
}
