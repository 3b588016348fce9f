//! `flowlake explain`: the plans of a query, with the pushed-down predicates and pruning.

use clap::Args;

use super::query::read_payload;
use super::{Pool, RequestArgs, ResourceArgs, open_lake, report};
use flowlake::error::Result;
use flowlake::query::Query;

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
        Err(code) => return code,
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
    let query = Query::from_request(
        &args.request.organization_id,
        &args.request.workflow_id,
        payload,
    )?;
    let pool = Pool::choose(args.resources.memory_limit, None, None);
    let (engine, lake) = open_lake(
        &args.resources,
        &args.request.lake,
        std::time::Duration::ZERO,
        pool,
    )
    .await?;
    engine.explain(&lake, &query, args.analyze).await
}
