fn main() -> std::process::ExitCode {
    iap_credits::cli::main()
}
