//! `flowlake explain`: the plans of a query, with the pushed-down predicates and pruning.

use clap::Args;

use super::query::read_payload;
use super::{RequestArgs, ResourceArgs, fail, open_request, report};
use flowlake::error::Result;

/// Options of `flowlake explain`: the same request as `query`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Run the query and show the scan metrics (files, row groups pruned, rows, bytes).
    #[arg(long)]
    analyze: bool,
    #[command(flatten)]
    resources: ResourceArgs,
}

pub(super) async fn run(args: ExplainArgs) -> i32 {
    let payload = match read_payload(&args.request) {
        Ok(bytes) => bytes,
        Err(error) => return fail(&error),
    };
    match explain(&args, &payload).await {
        Ok(text) => {
            out!("{text}");
            0
        }
        Err(error) => report(&error),
    }
}

async fn explain(args: &ExplainArgs, payload: &[u8]) -> Result<String> {
    let (query, engine, lake) = open_request(&args.request, &args.resources, payload).await?;
    engine.explain(&lake, &query, args.analyze).await
}
