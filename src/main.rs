fn main() -> std::process::ExitCode {
    iap_credits::memory::configure_allocator();
    iap_credits::cli::main()
}
