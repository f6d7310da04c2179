//! The command line: serve (no arguments), `healthcheck`, and `keys`.

use clap::{Arg, ArgAction, ArgMatches, Command as Clap};
use domain::{ApiKeyId, KeyName, Scope, Scopes};

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Run the service.
    Serve,
    /// Ask the service beside us whether it is ready.
    Healthcheck,
    /// Issue a key and print it, alone, on stdout.
    CreateKey { name: KeyName, scopes: Scopes },
    /// Print every key (never a secret).
    ListKeys,
    /// Revoke a key.
    RevokeKey(ApiKeyId),
}

fn definition() -> Clap {
    let scope_names = Scope::ALL.map(Scope::as_str);
    Clap::new("orders-server")
        .about("The orders service. Without a subcommand it serves; settings come from the environment.")
        .subcommand(Clap::new("healthcheck").about("Exit 0 if the server at BIND_ADDR is ready, else 1"))
        .subcommand(
            Clap::new("keys")
                .about("Manage API keys in the database of DATABASE_URL")
                .subcommand_required(true)
                .subcommand(
                    Clap::new("create")
                        .about("Issue a key and print it, alone, on stdout (it is shown only this once)")
                        .arg(Arg::new("name").long("name").required(true).help("What the key is for"))
                        .arg(
                            Arg::new("scope")
                                .long("scope")
                                .required(true)
                                .action(ArgAction::Append)
                                .value_parser(scope_names)
                                .help("A scope; repeat for several (orders:write implies orders:read)"),
                        ),
                )
                .subcommand(Clap::new("list").about("Print every key: id, scopes, times, name"))
                .subcommand(
                    Clap::new("revoke")
                        .about("Revoke a key; every server refuses it within 5 s")
                        .arg(Arg::new("id").required(true).help("The key's public id (16 hex digits)")),
                ),
        )
}

/// Parses the arguments; on `--help` or a mistake clap prints and exits
/// (status 2 for a mistake, like every unusable setting).
pub fn parse(args: impl IntoIterator<Item = String>) -> Command {
    let matches = definition().get_matches_from(args);
    match command(&matches) {
        Ok(command) => command,
        Err(error) => definition().error(clap::error::ErrorKind::ValueValidation, error).exit(),
    }
}

fn command(matches: &ArgMatches) -> Result<Command, String> {
    let Some((name, sub)) = matches.subcommand() else { return Ok(Command::Serve) };
    Ok(match (name, sub.subcommand()) {
        ("healthcheck", _) => Command::Healthcheck,
        ("keys", Some(("create", args))) => {
            let name = args.get_one::<String>("name").map(String::as_str).unwrap_or_default();
            let scopes = args.get_many::<String>("scope").into_iter().flatten();
            let scopes = scopes.map(|s| Scope::parse(s)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
            Command::CreateKey {
                name: KeyName::parse(name).map_err(|e| format!("--name {e}"))?,
                scopes: Scopes::parse(scopes).map_err(|e| format!("--scope: {e}"))?,
            }
        }
        ("keys", Some(("list", _))) => Command::ListKeys,
        ("keys", Some(("revoke", args))) => {
            let id = args.get_one::<String>("id").map(String::as_str).unwrap_or_default();
            Command::RevokeKey(ApiKeyId::parse(id).map_err(|e| format!("id {e}"))?)
        }
        _ => return Err(format!("unknown command {name}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Command {
        parse(std::iter::once("orders-server").chain(args.iter().copied()).map(str::to_owned))
    }

    #[test]
    fn subcommands_are_read() {
        assert!(matches!(parsed(&[]), Command::Serve));
        assert!(matches!(parsed(&["healthcheck"]), Command::Healthcheck));
        assert!(matches!(parsed(&["keys", "list"]), Command::ListKeys));
        let Command::CreateKey { name, scopes } =
            parsed(&["keys", "create", "--name", "ci", "--scope", "orders:read", "--scope", "admin"])
        else {
            panic!("create")
        };
        assert_eq!(name.as_str(), "ci");
        assert_eq!(scopes.iter().collect::<Vec<_>>(), [Scope::OrdersRead, Scope::Admin]);
        assert!(matches!(parsed(&["keys", "revoke", "0123456789abcdef"]), Command::RevokeKey(_)));
    }
}
