/// mimalloc keeps freed memory for reuse: the engine's large, short-lived buffers
/// (decompressed pages, decoded columns) no longer come from fresh, zeroed pages of the
/// kernel for every read (BENCHMARKS.md: glibc's allocator spent 12 % of a query in
/// `clear_page`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(flowlake::cli::run());
}
