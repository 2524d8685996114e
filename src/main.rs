use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tokenwarden::cli::Cli::parse();
    match tokenwarden::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokenwarden: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
