fn main() -> std::process::ExitCode {
    iap_credits::platform::memory::configure_allocator();
    iap_credits::cli::main()
}
