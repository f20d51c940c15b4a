fn main() -> std::process::ExitCode {
    pipecheck::cli::main()
}
