//! The command line: `keygate [--config FILE] [--database-url URL] [serve [--bind ADDR] | migrate
//! | project create|update|list|show|credentials … | keys list|show|revoke | credentials
//! list|revoke | audit]`. Without a subcommand keygate serves.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use keygate_domain::{ApiKeyId, ProjectId, TeamId, UserId};
use uuid::Uuid;

/// keygate: a self-hostable API-key service (serves the REST API of Stack Auth's API keys).
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about)]
pub struct Cli {
    /// A settings file (TOML) layered over the compiled-in defaults (also `KEYGATE_CONFIG`).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// The database: `sqlite://path` or `postgres://user@host:port/db` (wins over
    /// `KEYGATE_DATABASE_URL` and the settings file).
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,

    /// Flags of `serve`, for running without a subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What one invocation asks for, with the `serve` flags merged.
#[derive(Debug)]
pub enum Action {
    /// `serve`, or no subcommand.
    Serve(ServeArgs),
    /// `migrate`.
    Migrate,
    /// `project …`.
    Project(ProjectCommand),
    /// `seed-keys` (benchmarks).
    SeedKeys(SeedKeysArgs),
    /// `keys …`.
    Keys(KeysArgs),
    /// `credentials …`.
    Credentials(CredentialsArgs),
    /// `audit`.
    Audit(AuditArgs),
}

impl Cli {
    /// The action asked for. `serve` flags given before the subcommand count for `serve` (and
    /// for running without a subcommand); with any other subcommand they are an error.
    pub fn action(&mut self) -> Result<Action, clap::Error> {
        let top_level = std::mem::take(&mut self.serve);
        match self.command.take() {
            None => Ok(Action::Serve(top_level)),
            Some(Command::Serve(args)) => Ok(Action::Serve(ServeArgs {
                bind: args.bind.or(top_level.bind),
            })),
            Some(other) if top_level.bind.is_some() => {
                Err(<Cli as clap::CommandFactory>::command().error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--bind only applies to `serve`, not to `{}`", other.name()),
                ))
            }
            Some(Command::Migrate) => Ok(Action::Migrate),
            Some(Command::Project(command)) => Ok(Action::Project(command)),
            Some(Command::SeedKeys(args)) => Ok(Action::SeedKeys(args)),
            Some(Command::Keys(args)) => Ok(Action::Keys(args)),
            Some(Command::Credentials(args)) => Ok(Action::Credentials(args)),
            Some(Command::Audit(args)) => Ok(Action::Audit(args)),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default). Creates the `default` project on an empty database.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage projects (prints JSON).
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Benchmarks only: store many real user API keys directly (see `scripts/bench.sh`).
    #[command(hide = true)]
    SeedKeys(SeedKeysArgs),
    /// List, show and revoke a project's user and team API keys across owners (a table on a
    /// terminal, JSON otherwise).
    Keys(KeysArgs),
    /// List and revoke a project's credentials (`project credentials …` with `--project`).
    Credentials(CredentialsArgs),
    /// A project's audit log, newest first, one page at a time (a table on a terminal, JSON
    /// otherwise).
    Audit(AuditArgs),
}

/// How a listing command prints.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Print JSON even on a terminal (JSON is the default when standard output is not one).
    #[arg(long, global = true)]
    pub json: bool,
}

/// `keygate keys …`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// How to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// A key state, as `--state` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    /// Neither revoked nor expired.
    Valid,
    /// Revoked.
    Revoked,
    /// Expired (and not revoked).
    Expired,
}

/// `keygate keys …`: the same as `GET /api/v1/internal/keys`, plus read and revoke.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List a project's keys across owners, newest first, one page at a time.
    List {
        /// The project's id.
        #[arg(long, value_name = "ID")]
        project: ProjectId,
        /// Only this user's keys.
        #[arg(long, value_name = "ID", conflicts_with = "team")]
        user: Option<UserId>,
        /// Only this team's keys.
        #[arg(long, value_name = "ID")]
        team: Option<TeamId>,
        /// Only keys in this state now.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Only keys last used before this instant (epoch milliseconds), never-used ones
        /// included.
        #[arg(long, value_name = "MILLIS")]
        last_used_before: Option<i64>,
        /// Keys per page (1 to `limits.max_page_size`; default the largest).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Continue after a previous page (its `next_cursor`).
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Show one key.
    Show {
        /// The project's id.
        #[arg(long, value_name = "ID")]
        project: ProjectId,
        /// The key's id.
        key: ApiKeyId,
    },
    /// Revoke a key for good (revoking it again keeps the first instant); prints it. A server
    /// on Postgres stops accepting it at once; on SQLite within its key-cache row TTL.
    Revoke {
        /// The project's id.
        #[arg(long, value_name = "ID")]
        project: ProjectId,
        /// The key's id.
        key: ApiKeyId,
    },
}

/// `keygate credentials …`.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// How to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: TopCredentialCommand,
}

/// `keygate credentials list|revoke --project ID`: `keygate project credentials list|revoke`.
#[derive(Debug, Subcommand)]
pub enum TopCredentialCommand {
    /// List a project's credentials, newest first (each key only by its last four characters).
    List {
        /// The project's id.
        #[arg(long, value_name = "ID")]
        project: ProjectId,
    },
    /// Revoke a credential for good; prints it.
    Revoke {
        /// The project's id.
        #[arg(long, value_name = "ID")]
        project: ProjectId,
        /// The credential's id.
        credential: Uuid,
    },
}

impl From<TopCredentialCommand> for CredentialCommand {
    fn from(command: TopCredentialCommand) -> Self {
        match command {
            TopCredentialCommand::List { project } => CredentialCommand::List { project },
            TopCredentialCommand::Revoke {
                project,
                credential,
            } => CredentialCommand::Revoke {
                project,
                credential,
            },
        }
    }
}

/// `keygate audit`: the same as `GET /api/v1/internal/audit-log`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The project's id.
    #[arg(long, value_name = "ID")]
    pub project: ProjectId,
    /// Only this action (e.g. `user_api_key.revoked`).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only changes to objects of this kind (e.g. `project_api_key`).
    #[arg(long, value_name = "TYPE")]
    pub object_type: Option<String>,
    /// Only changes to this object.
    #[arg(long, value_name = "ID")]
    pub object_id: Option<String>,
    /// Only this kind of actor (`user`, `client`, `server`, `admin`, `operator`, `scanner`,
    /// `system`).
    #[arg(long, value_name = "TYPE")]
    pub actor_type: Option<String>,
    /// Only changes made by this user.
    #[arg(long, value_name = "ID")]
    pub actor_user: Option<UserId>,
    /// Only changes affecting this user.
    #[arg(long, value_name = "ID")]
    pub target_user: Option<UserId>,
    /// Only changes made at or after this instant (epoch milliseconds).
    #[arg(long, value_name = "MILLIS")]
    pub since: Option<i64>,
    /// Only changes made before this instant (epoch milliseconds).
    #[arg(long, value_name = "MILLIS")]
    pub until: Option<i64>,
    /// Events per page (1 to `limits.max_page_size`; default the largest).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Continue after a previous page (its `next_cursor`).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
}

/// Flags of the hidden `seed-keys` command.
#[derive(Debug, Clone, Args)]
pub struct SeedKeysArgs {
    /// The project that gets the keys (a new user of it owns them).
    #[arg(long, value_name = "ID")]
    pub project_id: ProjectId,
    /// How many keys to store.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// How many of them to print, one per line (the rest exist only as hashes).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub print: u64,
    /// After those, print this many well-formed keys that are NOT stored (for checks of unknown
    /// keys).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub unknown: u64,
}

impl Command {
    /// The subcommand's name, for messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Serve(_) => "serve",
            Command::Migrate => "migrate",
            Command::Project(_) => "project",
            Command::SeedKeys(_) => "seed-keys",
            Command::Keys(_) => "keys",
            Command::Credentials(_) => "credentials",
            Command::Audit(_) => "audit",
        }
    }
}

/// Flags of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Where to listen, e.g. `127.0.0.1:8102` (port 0 picks a free port; wins over
    /// `KEYGATE_BIND`).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
}

/// `keygate project …`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project and a credential with all three keys; prints both (the keys only this
    /// once).
    Create {
        /// The project's name.
        display_name: String,
        /// Let users have API keys.
        #[arg(long)]
        allow_user_api_keys: bool,
        /// Let teams have API keys.
        #[arg(long)]
        allow_team_api_keys: bool,
        /// Let clients (not only servers) create teams.
        #[arg(long)]
        client_team_creation_enabled: bool,
        /// Let pages on localhost origins call the client API (off: a project trusts no origin
        /// it was not given).
        #[arg(long)]
        allow_localhost: bool,
    },
    /// Change a project's name or switches; prints the project.
    Update {
        /// The project's id.
        id: ProjectId,
        /// A new name.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Let users have API keys, or not.
        #[arg(long, value_name = "BOOL")]
        allow_user_api_keys: Option<bool>,
        /// Let teams have API keys, or not.
        #[arg(long, value_name = "BOOL")]
        allow_team_api_keys: Option<bool>,
        /// Let clients create teams, or not.
        #[arg(long, value_name = "BOOL")]
        client_team_creation_enabled: Option<bool>,
        /// Let pages on localhost origins call the client API, or not.
        #[arg(long, value_name = "BOOL")]
        allow_localhost: Option<bool>,
    },
    /// List every project, oldest first.
    List,
    /// Show one project.
    Show {
        /// The project's id.
        id: ProjectId,
    },
    /// List, show, describe or revoke a project's credentials (its publishable client, secret
    /// server and super-secret admin keys).
    #[command(subcommand)]
    Credentials(CredentialCommand),
}

/// `keygate project credentials …`: the same as `GET` / `PATCH /api/v1/internal/api-keys…`.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// List a project's credentials, newest first (each key only by its last four characters).
    List {
        /// The project's id.
        project: ProjectId,
    },
    /// Show one credential.
    Show {
        /// The project's id.
        project: ProjectId,
        /// The credential's id.
        credential: Uuid,
    },
    /// Give a credential a new description; prints the credential.
    Update {
        /// The project's id.
        project: ProjectId,
        /// The credential's id.
        credential: Uuid,
        /// The new description.
        #[arg(long, value_name = "TEXT")]
        description: String,
    },
    /// Revoke a credential for good (revoking it again keeps the first instant); prints it. A
    /// server on Postgres stops accepting it at once; on SQLite within its project-auth cache TTL.
    Revoke {
        /// The project's id.
        project: ProjectId,
        /// The credential's id.
        credential: Uuid,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keygate").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_serves_with_top_level_flags() {
        let cli = parse(&["--bind", "127.0.0.1:0", "--database-url", "sqlite://x.db"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.bind.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(cli.database_url.as_deref(), Some("sqlite://x.db"));
    }

    #[test]
    fn serve_takes_its_flags_and_the_global_ones() {
        let cli = parse(&["serve", "--bind", "0.0.0.0:80", "--config", "k.toml"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.bind.as_deref(), Some("0.0.0.0:80"));
        assert_eq!(cli.config, Some(PathBuf::from("k.toml")));
    }

    #[test]
    fn credential_commands_parse() {
        let project = ProjectId::new_random();
        let credential = Uuid::new_v4();
        let cli = parse(&[
            "project",
            "credentials",
            "revoke",
            &project.to_string(),
            &credential.to_string(),
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Project(ProjectCommand::Credentials(CredentialCommand::Revoke {
                project: p,
                credential: c,
            }))) if p == project && c == credential
        ));
        let cli = parse(&[
            "project",
            "credentials",
            "update",
            &project.to_string(),
            &credential.to_string(),
            "--description",
            "ci",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Project(ProjectCommand::Credentials(CredentialCommand::Update {
                description, ..
            }))) if description == "ci"
        ));
        assert!(parse(&["project", "credentials", "list", "not-an-id"]).is_err());
        assert!(parse(&[
            "project",
            "credentials",
            "revoke",
            &project.to_string(),
            "x"
        ])
        .is_err());
    }

    #[test]
    fn key_commands_parse() {
        let project = ProjectId::new_random();
        let user = UserId::new_random();
        let cli = parse(&[
            "keys",
            "list",
            "--project",
            &project.to_string(),
            "--user",
            &user.to_string(),
            "--state",
            "expired",
            "--last-used-before",
            "1700000000000",
            "--limit",
            "10",
            "--cursor",
            "abc",
            "--json",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Keys(KeysArgs {
                output,
                command:
                    KeysCommand::List {
                        project: p,
                        user: u,
                        team,
                        state,
                        last_used_before,
                        limit,
                        cursor,
                    },
            })) => {
                assert!(output.json);
                assert_eq!((p, u, team), (project, Some(user), None));
                assert_eq!(state, Some(StateArg::Expired));
                assert_eq!(last_used_before, Some(1_700_000_000_000));
                assert_eq!(limit, Some(10));
                assert_eq!(cursor.as_deref(), Some("abc"));
            }
            other => panic!("{other:?}"),
        }
        let key = ApiKeyId::new_random();
        let cli = parse(&[
            "keys",
            "revoke",
            "--project",
            &project.to_string(),
            &key.to_string(),
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Keys(KeysArgs { output, command: KeysCommand::Revoke { project: p, key: k } }))
                if p == project && k == key && !output.json
        ));
        let team = TeamId::new_random();
        let both = [
            "keys",
            "list",
            "--project",
            &project.to_string(),
            "--user",
            &user.to_string(),
            "--team",
            &team.to_string(),
        ];
        assert!(parse(&both).is_err(), "one owner at most");
        assert!(parse(&[
            "keys",
            "list",
            "--project",
            &project.to_string(),
            "--state",
            "stale"
        ])
        .is_err());
        assert!(
            parse(&["keys", "show", &key.to_string()]).is_err(),
            "--project is required"
        );
    }

    #[test]
    fn top_level_credential_commands_are_the_project_ones() {
        let project = ProjectId::new_random();
        let credential = Uuid::new_v4();
        let cli = parse(&[
            "credentials",
            "revoke",
            "--project",
            &project.to_string(),
            &credential.to_string(),
        ])
        .unwrap();
        let Some(Command::Credentials(args)) = cli.command else {
            panic!("not credentials")
        };
        assert!(matches!(
            CredentialCommand::from(args.command),
            CredentialCommand::Revoke { project: p, credential: c } if p == project && c == credential
        ));
        let cli = parse(&[
            "credentials",
            "list",
            "--json",
            "--project",
            &project.to_string(),
        ])
        .unwrap();
        let Some(Command::Credentials(args)) = cli.command else {
            panic!("not credentials")
        };
        assert!(args.output.json);
        assert!(matches!(
            CredentialCommand::from(args.command),
            CredentialCommand::List { project: p } if p == project
        ));
    }

    #[test]
    fn project_commands_parse() {
        let cli = parse(&["project", "create", "My app", "--allow-user-api-keys"]).unwrap();
        match cli.command {
            Some(Command::Project(ProjectCommand::Create {
                display_name,
                allow_user_api_keys,
                allow_team_api_keys,
                ..
            })) => {
                assert_eq!(display_name, "My app");
                assert!(allow_user_api_keys);
                assert!(!allow_team_api_keys);
            }
            other => panic!("{other:?}"),
        }
        let id = ProjectId::new_random();
        let cli = parse(&[
            "--database-url",
            "sqlite://y.db",
            "project",
            "update",
            &id.to_string(),
            "--allow-team-api-keys",
            "false",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Project(ProjectCommand::Update {
                id: parsed,
                allow_team_api_keys,
                display_name,
                ..
            })) => {
                assert_eq!(parsed, id);
                assert_eq!(allow_team_api_keys, Some(false));
                assert_eq!(display_name, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["project", "show", "not-a-uuid"]).is_err());
    }

    #[test]
    fn serve_flags_do_not_mix_with_other_subcommands() {
        let error = parse(&["--bind", "127.0.0.1:0", "migrate"])
            .unwrap()
            .action()
            .unwrap_err();
        assert!(
            error.to_string().contains("--bind only applies to `serve`"),
            "{error}"
        );
        assert!(parse(&["migrate", "--bind", "127.0.0.1:0"]).is_err());
        assert!(matches!(
            parse(&["migrate"]).unwrap().action(),
            Ok(Action::Migrate)
        ));
    }

    #[test]
    fn actions_merge_the_serve_flags() {
        let Ok(Action::Serve(args)) = parse(&["--bind", "127.0.0.1:1"]).unwrap().action() else {
            panic!("not serve")
        };
        assert_eq!(args.bind.as_deref(), Some("127.0.0.1:1"));
        let Ok(Action::Serve(args)) =
            parse(&["--bind", "127.0.0.1:1", "serve", "--bind", "127.0.0.1:2"])
                .unwrap()
                .action()
        else {
            panic!("not serve")
        };
        assert_eq!(args.bind.as_deref(), Some("127.0.0.1:2"));
    }
}
