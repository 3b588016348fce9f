fn main() {
    std::process::exit(flowlake::cli::run());
}
