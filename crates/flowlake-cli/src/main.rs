fn main() {
    std::process::exit(flowlake_cli::cli::run());
}
