//! The command line: `berth` / `berth serve` runs the server; `berth user …` are the
//! operator commands. Errors print one clear line and exit non-zero.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use crate::db::Conn;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::accounts::{self, NewAccount, Plan};
use crate::activity::{self, Client, Event};
use crate::clock::{Clock, SystemClock};
use crate::config::{ServeArgs, Settings};
use crate::registry::keys::{self as registry_keys, NotRetired, RECHECK_SECONDS, SigningKey, Status};

#[derive(Parser)]
#[command(name = "berth", version, about = "Accounts, two-factor authentication and personal access tokens for a private container registry.")]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Below each subcommand's own options: where Berth's settings come from.
const SETTINGS_NOTE: &str = "Berth's settings (BERTH_DATA, BERTH_DATABASE_URL, BERTH_PUBLIC_URL, …) come from their BERTH_* variables, or from flags before the command: `berth --data DIR user list`. `berth --help` lists them all.";

#[derive(Subcommand)]
enum Command {
    /// Serve the web application (the default); the settings go before or after `serve`.
    Serve(Box<ServeArgs>),
    /// Manage user accounts.
    #[command(after_help = SETTINGS_NOTE)]
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage organizations and their members.
    #[command(after_help = SETTINGS_NOTE)]
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Names kept reserved after their account or organization was deleted.
    #[command(after_help = SETTINGS_NOTE)]
    Names {
        #[command(subcommand)]
        command: NamesCommand,
    },
    /// Print the `auth: token:` block for the registry's config.yml and write the
    /// certificate bundle it needs.
    #[command(after_help = SETTINGS_NOTE)]
    RegistryConfig {
        /// The registry's service name [default: BERTH_REGISTRY_SERVICE].
        #[arg(long)]
        service: Option<String>,
        /// Berth's token URL as the registry's clients reach it [default: BERTH_PUBLIC_URL/token].
        #[arg(long)]
        realm: Option<String>,
        /// Where to write the certificate bundle (mode 0644), somewhere the registry's user can
        /// read it, e.g. /etc/docker/registry/berth-bundle.pem [default: $BERTH_DATA/registry-bundle.pem].
        #[arg(long)]
        bundle: Option<std::path::PathBuf>,
    },
    /// Berth and the registry's contents.
    #[command(after_help = SETTINGS_NOTE)]
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Write a consistent copy of the SQLite database to FILE while Berth runs (see the README
    /// to restore). On PostgreSQL, use pg_dump.
    #[command(after_help = SETTINGS_NOTE)]
    Backup { file: std::path::PathBuf },
    /// Move this Berth from SQLite to PostgreSQL: copy its database into an empty PostgreSQL
    /// database, every table and row as they are. Stop every Berth server on it first.
    ///
    /// The source is the SQLite database BERTH_DATA and BERTH_DATABASE_URL name; it is only
    /// read, and left as it was. The target's migrations are applied first, and a target that
    /// holds any Berth row is refused. The rows are copied in one transaction (all or nothing),
    /// ids, hashes and sealed secrets as they are, then counted in both databases and printed.
    /// Afterwards, set BERTH_DATABASE_URL to the target and start Berth: every instance needs
    /// a copy of the master key (BERTH_MASTER_KEY_FILE): the 2FA secrets, the signing keys
    /// and the sessions open only with it.
    #[command(after_help = SETTINGS_NOTE)]
    MigrateTo {
        /// The PostgreSQL database to fill: postgres://USER@HOST[:PORT]/DB (postgresql:// too) or
        /// libpq's keyword form (host=/run/postgresql dbname=berth). Leave the password out (a
        /// command line shows in `ps` and shell history): libpq reads PGPASSWORD or ~/.pgpass.
        url: String,
    },
    /// Check the database: SQLite's integrity check of every page and index; on PostgreSQL,
    /// that every migration is applied and every table reads.
    #[command(after_help = SETTINGS_NOTE)]
    Integrity,
    /// Signing keys of registry tokens.
    #[command(after_help = SETTINGS_NOTE)]
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Development tools (datasets for benchmarks).
    #[command(hide = true)]
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Rebuild the tags and digests Berth records from the registry's catalog and tag lists
    /// (BERTH_REGISTRY_URL), after Berth was down or the registry's events were lost, and
    /// print what changed.
    Sync {
        /// Only this repository, e.g. alice/app.
        #[arg(long)]
        repository: Option<String>,
    },
}

/// A signing key changes in two steps, so the registry trusts the new key before any token
/// names it: `rotate`, write the bundle and reload the registry, then `activate`.
#[derive(Subcommand)]
enum KeysCommand {
    /// Step 1 of 2: add a new key and publish its certificate in the bundle; the current key
    /// keeps signing.
    Rotate,
    /// Step 2 of 2, once the registry has the bundle with the new certificate: sign with the
    /// newest published key. Every running Berth switches within 30 seconds.
    Activate,
    /// List the keys: key id, status (signing, published, previous, retired), when created.
    List,
    /// Take a former key's certificate out of the bundle, once no token it signed can be live.
    Retire {
        /// The key id, as `berth keys list` shows it.
        kid: String,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Create many users with many tokens, in batched transactions.
    Seed {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        tokens_per_user: usize,
        /// Usernames are PREFIX0, PREFIX1, …
        #[arg(long, default_value = "seed")]
        prefix: String,
        #[arg(long, default_value = "team")]
        plan: String,
        /// The password of every seeded user (hashed once).
        #[arg(long, default_value = "seeded users password")]
        password: String,
        /// Write `username token` lines here (for load generators).
        #[arg(long)]
        tokens_out: Option<std::path::PathBuf>,
    },
    /// Create an organization of seeded users, with teams and repositories.
    SeedOrg {
        #[arg(long)]
        name: String,
        /// Its first owner (an existing user).
        #[arg(long)]
        owner: String,
        /// Members are the existing users PREFIX0, PREFIX1, …
        #[arg(long)]
        member_prefix: String,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 50)]
        teams: usize,
        #[arg(long, default_value_t = 10000)]
        repositories: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization with USER as its first owner.
    Add {
        name: String,
        #[arg(long)]
        owner: String,
        /// team or business.
        #[arg(long, default_value = "team")]
        plan: String,
    },
    /// List organizations.
    List,
    /// Set an organization's plan (team or business).
    Plan { name: String, plan: String },
    /// Members of an organization.
    Member {
        #[command(subcommand)]
        command: OrgMemberCommand,
    },
    /// Delete an organization that holds no repositories; its name stays reserved.
    Delete { name: String },
}

#[derive(Subcommand)]
enum OrgMemberCommand {
    /// Add USER to ORG without an invitation.
    Add {
        org: String,
        user: String,
        /// owner, editor or member.
        #[arg(long, default_value = "member")]
        role: String,
        /// A team of the organization to put the member in.
        #[arg(long)]
        team: Option<String>,
    },
    /// Remove USER from ORG (and from its teams). The last owner stays.
    Remove { org: String, user: String },
}

#[derive(Subcommand)]
enum NamesCommand {
    /// List the reserved names.
    List,
    /// Let NAME be taken again by a new account or organization. Whoever takes it can push
    /// to the repositories still stored under it in the registry: delete those first.
    Release { name: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (prompts for the password without echo unless --password-stdin).
    Add {
        name: String,
        #[arg(long)]
        email: String,
        /// personal, pro, team or business.
        #[arg(long, default_value = "personal")]
        plan: String,
        /// May use operator-only registry grants such as the catalog.
        #[arg(long)]
        operator: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Set an account's plan.
    Plan { name: String, plan: String },
    /// Grant or remove operator rights.
    Operator { name: String, state: OnOff },
    /// Set a new password (the forgotten-password path): ends the user's sessions, keeps tokens.
    SetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn two-factor authentication off for a user who lost their device and codes.
    #[command(name = "reset-2fa")]
    Reset2fa { name: String },
    /// Disable an account: no sign-in, no token works, every session ends.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
    /// Revoke every access token of the user.
    RevokeTokens { name: String },
}

pub fn main() -> ExitCode {
    owner_only_files();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let quiet = !matches!(cli.command, None | Some(Command::Serve(_)));
    init_logging(if quiet { "warn" } else { "info" });
    let args = match serve_args(&cli, &matches) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let settings = match Settings::from_args(args) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        None | Some(Command::Serve(_)) => serve(settings),
        Some(Command::User { command }) => user(settings, command),
        Some(Command::Org { command }) => org(settings, command),
        Some(Command::Names { command }) => names(settings, command),
        Some(Command::Dev { command }) => dev(settings, command),
        Some(Command::RegistryConfig { service, realm, bundle }) => registry_config(settings, service, realm, bundle),
        Some(Command::Keys { command }) => keys(settings, command),
        Some(Command::Registry { command: RegistryCommand::Sync { repository } }) => registry_sync(settings, repository),
        Some(Command::Backup { file }) => backup(settings, &file),
        Some(Command::Integrity) => integrity(settings),
        Some(Command::MigrateTo { url }) => migrate_to(settings, &url),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// What Berth writes holds secrets (the database and the files SQLite keeps beside it,
/// backups, keys, seeded tokens), so every file this process creates is owner-only unless
/// it says otherwise, whatever umask the operator's shell or service manager set. Set
/// once, here, before any command or server thread runs; the modules that create those
/// files also ask for 0600 themselves, for callers of the library.
fn owner_only_files() {
    // SAFETY: umask only sets this process's file creation mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// The settings: those of the top level, or for `berth serve`, those after `serve` when
/// some are given there. Both sides read the same BERTH_* variables and defaults; flags on
/// both sides would leave one side silently ignored, so they are refused.
fn serve_args<'a>(cli: &'a Cli, matches: &clap::ArgMatches) -> Result<&'a ServeArgs, String> {
    let Some(Command::Serve(after)) = &cli.command else { return Ok(&cli.args) };
    let given = |m: &clap::ArgMatches| {
        let settings = ServeArgs::augment_args(clap::Command::new("settings"));
        settings.get_arguments().any(|a| m.value_source(a.get_id().as_str()) == Some(clap::parser::ValueSource::CommandLine))
    };
    let (before, after_given) = (given(matches), matches.subcommand_matches("serve").is_some_and(given));
    match (before, after_given) {
        (true, true) => Err("give the settings either before or after `serve`, not on both sides".into()),
        (true, false) => Ok(&cli.args),
        _ => Ok(after),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("berth: error: {message}");
    ExitCode::FAILURE
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // colours only on a terminal: log files and journals get plain text
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

fn serve(settings: Settings) -> Result<(), String> {
    keep_large_allocations_out_of_the_heap();
    // held until the server has stopped: `migrate-to` copies no SQLite database in use
    let _in_use = sqlite_in_use(&settings)?;
    actix_web::rt::System::new().block_on(async move {
        let (addr, state, server) = crate::server::start(settings, Arc::new(SystemClock))?;
        tracing::info!(%addr, public_url = %state.public_url, "Berth is listening");
        server.await.map_err(|e| e.to_string())
    })
}

/// The shared lock beside the SQLite database, held by whatever may write it, taken once its
/// folder exists (the first start makes the data folder); a PostgreSQL or in-memory
/// database has none.
fn sqlite_in_use(settings: &Settings) -> Result<Option<crate::db::migrate_to::DatabaseLock>, String> {
    let Some(file) = database_file(&settings.database_url) else { return Ok(None) };
    crate::keys::ensure_data_dir(&settings.data_dir).map_err(|e| format!("data folder {}: {e}", settings.data_dir.display()))?;
    crate::db::migrate_to::DatabaseLock::shared(&file).map(Some)
}

/// argon2 allocates 19 MiB per hash. glibc raises its mmap threshold after such a block is
/// freed, so later ones come from per-thread heaps that never shrink: under a login flood
/// the server grew to 0.6–1.2 GB. A fixed 1 MiB threshold maps and unmaps every large
/// block, and the same flood stays near 35 MB (BENCHMARKS.md).
fn keep_large_allocations_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Opens the database, creating the data folder and the database on first use: for the
/// commands that may set a Berth up (`user add` before the first start, `dev seed`).
fn open_or_create_db(settings: &Settings) -> Result<crate::db::DbConn, String> {
    crate::keys::ensure_data_dir(&settings.data_dir).map_err(|e| format!("data folder {}: {e}", settings.data_dir.display()))?;
    connect(settings)
}

/// Opens the database of an existing Berth, and refuses, creating nothing, when there is
/// none: a mistyped BERTH_DATA must not look like a Berth without users.
fn open_existing_db(settings: &Settings) -> Result<crate::db::DbConn, String> {
    if !holds_berth(&settings.database_url) {
        return Err(format!("no Berth database at {}: {}", crate::db::shown(&settings.database_url), NO_BERTH_HINT));
    }
    connect(settings)
}

fn connect(settings: &Settings) -> Result<crate::db::DbConn, String> {
    let pool = crate::db::open(&settings.database_url)?;
    pool.get().map_err(|e| format!("opening the database: {e}"))
}

const NO_BERTH_HINT: &str =
    "set BERTH_DATA (and BERTH_DATABASE_URL, if it is elsewhere) to those of your Berth, or set a new one up first: start it (`berth`) or add its first user (`berth user add`)";

/// Whether the database `url` names is a Berth's: a SQLite file that exists (an in-memory
/// one always does), or a PostgreSQL database Berth migrated.
fn holds_berth(url: &str) -> bool {
    match crate::db::Kind::of(url) {
        crate::db::Kind::Sqlite => database_file(url).is_none_or(|f| f.is_file()),
        crate::db::Kind::Postgres => crate::db::postgres_holds_berth(url),
    }
}

/// The file behind a SQLite URL (a path, or `file:PATH?options`); None for an in-memory
/// database and for PostgreSQL.
fn database_file(url: &str) -> Option<std::path::PathBuf> {
    if crate::db::Kind::of(url) == crate::db::Kind::Postgres {
        return None;
    }
    let path = url.strip_prefix("file:").map(|rest| rest.split('?').next().unwrap_or(rest)).unwrap_or(url);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// A Berth exists once its master key does (made at the first start) or its database does
/// (made by the first `berth user add`). The commands that work on its keys refuse anything
/// else: a signing key made for the wrong Berth is one the registry does not trust, and
/// every token would be rejected.
fn require_existing_berth(settings: &Settings) -> Result<(), String> {
    let has_master = settings.master_key_file.is_file();
    let has_database = holds_berth(&settings.database_url);
    if has_master || has_database {
        return Ok(());
    }
    Err(format!(
        "no Berth here: there is no master key at {} (BERTH_MASTER_KEY_FILE) and the database {} does not exist; {NO_BERTH_HINT}",
        settings.master_key_file.display(),
        crate::db::shown(&settings.database_url)
    ))
}

/// What the commands on the keys work with: the database, the master key, the signing key,
/// and the lock a command that writes a SQLite database holds.
type KeysOpen = (crate::db::DbConn, crate::keys::Keys, SigningKey, Option<crate::db::migrate_to::DatabaseLock>);

/// The database, the master key (checked against it) and the signing key of an existing
/// Berth, for the commands on its keys. The first of them to run, like the first start,
/// makes the signing key (or imports an earlier Berth's key files).
fn open_keys(settings: &Settings) -> Result<KeysOpen, String> {
    require_existing_berth(settings)?;
    let mut conn = open_or_create_db(settings)?;
    let in_use = sqlite_in_use(settings)?;
    let keys = crate::keys::check_master_key(&settings.master_key_file, &mut conn, SystemClock.now())?;
    let signing = registry_keys::ensure(&mut conn, &keys, &settings.data_dir, SystemClock.now()).map_err(|e| e.chain())?;
    Ok((conn, keys, signing, in_use))
}

fn read_password(from_stdin: bool) -> Result<SecretString, String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
        let pw = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_string();
        return Ok(SecretString::from(pw));
    }
    if !std::io::stdin().is_terminal() {
        return Err("no terminal to ask for the password: use --password-stdin".into());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let second = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
    if first != second {
        return Err("the two passwords differ".into());
    }
    Ok(SecretString::from(first))
}

fn find(conn: &mut Conn, name: &str) -> Result<accounts::User, String> {
    accounts::find_by_username(conn, name).map_err(|e| e.to_string())?.ok_or_else(|| format!("no user named {:?}", name.trim().to_lowercase()))
}

fn log_operator(conn: &mut Conn, user_id: i32, what: &str) -> Result<(), String> {
    activity::record(conn, user_id, Event::OperatorAction, what, &Client::cli(), SystemClock.now()).map_err(|e| e.to_string())
}

fn warn(message: &str) {
    eprintln!("berth: warning: {message}");
}

fn registry_config(settings: Settings, service: Option<String>, realm: Option<String>, bundle: Option<std::path::PathBuf>) -> Result<(), String> {
    let (mut conn, _, key, _in_use) = open_keys(&settings)?;
    let path = bundle.unwrap_or_else(|| settings.data_dir.join("registry-bundle.pem"));
    registry_keys::write_bundle(&path, &registry_keys::bundle(&mut conn).map_err(|e| e.chain())?)?;
    let path = std::fs::canonicalize(&path).map_err(|e| e.to_string())?;
    if let Some(closed) = registry_keys::folder_closed_to_others(&path) {
        warn(&format!(
            "the registry runs as its own user (Debian: docker-registry), which cannot read {}: other users may not enter {}. \
             Write the bundle where it can, e.g. `berth registry-config --bundle /etc/docker/registry/berth-bundle.pem`",
            path.display(),
            closed.display()
        ));
    }
    let realm = match (realm, &settings.public_url) {
        (Some(realm), _) => realm,
        (None, Some(url)) => format!("{url}/token"),
        (None, None) => {
            let realm = format!("http://{}/token", settings.bind);
            warn(&format!(
                "BERTH_PUBLIC_URL is unset, so the realm is {realm}: the registry's clients must reach Berth there. \
                 Set BERTH_PUBLIC_URL to the URL they use (for this command and for Berth), or pass --realm"
            ));
            realm
        }
    };
    println!("# Berth signs registry tokens with key {}", key.kid);
    for other in registry_keys::list(&mut conn).map_err(|e| e.chain())?.iter().filter(|k| matches!(k.status, Status::Published | Status::Previous)) {
        let why = if other.status == Status::Published { "published: `berth keys activate` makes it sign" } else { "previous: for the tokens it signed" };
        println!("# The bundle also trusts key {} ({why})", other.kid);
    }
    println!(
        "# Deleting tags and repositories (Berth's pages and API) needs a registry that allows deletes: its `storage:` block must hold `delete: enabled: true` (Debian's does). Merge it into that block; a second `storage:` key is not one"
    );
    println!("{STORAGE_DELETE_BLOCK}");
    println!("# Replace the whole `auth:` block of the registry's config.yml with this one: a registry takes exactly one auth type (Debian's ships `auth: htpasswd:`)");
    println!(
        "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}",
        service.unwrap_or(settings.registry_service),
        settings.issuer,
        path.display()
    );
    if let Some(secret) = &settings.registry_events_secret {
        let public = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
        println!("# The registry tells Berth of every push, pull and delete: add this `notifications:` block beside `auth:`.");
        println!(
            "# config.yml now holds a secret (BERTH_REGISTRY_EVENTS_SECRET): make it readable by the registry's user alone, mode 0600 (Debian: chown docker-registry: config.yml && chmod 0600 config.yml)"
        );
        println!("{}", notifications_block(&public, secret.expose_secret()));
    }
    Ok(())
}

/// What the registry's `storage:` block needs for Berth's deletes: without it the registry
/// answers every manifest `DELETE` with 405.
const STORAGE_DELETE_BLOCK: &str = "storage:\n  delete:\n    enabled: true";

/// The registry's `notifications:` block: Berth's events endpoint with the shared secret;
/// the registry gives up on a delivery after `timeout`, backs off for `backoff` after
/// `threshold` failures in a row and then tries the same events again; blobs (served as
/// `application/octet-stream`) are neither tags nor pulls, so the registry keeps them.
fn notifications_block(public_url: &str, secret: &str) -> String {
    format!(
        "notifications:\n  endpoints:\n    - name: berth\n      url: {public_url}/registry/events\n      headers:\n        Authorization: [\"Bearer {secret}\"]\n      timeout: 5s\n      threshold: 3\n      backoff: 5s\n      ignoredmediatypes:\n        - application/octet-stream"
    )
}

fn registry_sync(settings: Settings, repository: Option<String>) -> Result<(), String> {
    let (mut conn, _, key, _in_use) = open_keys(&settings)?;
    if let Some(name) = repository.as_deref().filter(|n| !crate::registry::grants::valid_repository_name(n)) {
        return Err(format!("--repository {name:?}: give a repository's full name, e.g. alice/app"));
    }
    let client = crate::registry::client::RegistryClient::new(&settings.registry_url, &settings.issuer, &settings.registry_service);
    let started = std::time::Instant::now();
    let report = actix_web::rt::System::new().block_on(crate::registry_events::sync::sync(&mut conn, &client, &key, repository.as_deref(), &SystemClock)).map_err(|e| match e {
        crate::registry_events::sync::SyncError::Registry(e) if matches!(e, crate::registry::client::ClientError::Status { status: 401, .. }) => {
            format!("{e}. Does the registry trust Berth's signing key (`berth registry-config` writes its bundle) and is BERTH_REGISTRY_SERVICE its service?")
        }
        e => e.to_string(),
    })?;
    use crate::registry_events::sync::Change;
    for change in &report.changes {
        match change {
            Change::Added { repository, tag, digest } => println!("added   {repository}:{tag} {digest}"),
            Change::Updated { repository, tag, from, to } => println!("updated {repository}:{tag} {from} -> {to}"),
            Change::Removed { repository, tag, digest } => println!("removed {repository}:{tag} (was {digest})"),
        }
    }
    for name in &report.unknown {
        warn(&format!("the registry holds {name}, which Berth has no record of: not synced (a push through Berth records it)"));
    }
    let count = |f: fn(&Change) -> bool| report.changes.iter().filter(|c| f(c)).count();
    println!(
        "synced {} repositories from {} in {:.1} s: {} tags, {} added, {} updated, {} removed; {} manifests read",
        report.repositories,
        client.base(),
        started.elapsed().as_secs_f64(),
        report.tags,
        count(|c| matches!(c, Change::Added { .. })),
        count(|c| matches!(c, Change::Updated { .. })),
        count(|c| matches!(c, Change::Removed { .. })),
        report.read,
    );
    Ok(())
}

fn backup(settings: Settings, file: &std::path::Path) -> Result<(), String> {
    let mut conn = open_existing_db(&settings)?;
    let started = std::time::Instant::now();
    crate::db::backup(&mut conn, file)?;
    let copy = <diesel::SqliteConnection as diesel::Connection>::establish(file.to_str().ok_or("the backup path is not UTF-8")?).map_err(|e| e.to_string())?;
    let mut copy = crate::db::Conn::Sqlite(copy);
    let check = crate::db::integrity_check(&mut copy)?;
    if check != "ok" {
        return Err(format!("the backup in {} fails its integrity check: {check}", file.display()));
    }
    println!("backed up {} to {} in {:.1} s (integrity_check: ok)", crate::db::shown(&settings.database_url), file.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn integrity(settings: Settings) -> Result<(), String> {
    let mut conn = open_existing_db(&settings)?;
    match crate::db::integrity_check(&mut conn)? {
        ok if ok == "ok" => {
            println!("{}: ok", crate::db::shown(&settings.database_url));
            Ok(())
        }
        problems => Err(format!("{} fails its integrity check: {problems}", crate::db::shown(&settings.database_url))),
    }
}

fn migrate_to(settings: Settings, target: &str) -> Result<(), String> {
    let source = &settings.database_url;
    if crate::db::Kind::of(source) == crate::db::Kind::Postgres {
        return Err(format!(
            "this Berth's database is PostgreSQL already ({}): migrate-to moves a SQLite Berth; set BERTH_DATABASE_URL (or BERTH_DATA) to its SQLite database",
            crate::db::shown(source)
        ));
    }
    let file = database_file(source).ok_or("BERTH_DATABASE_URL names an in-memory SQLite database: there is nothing to move")?;
    let master = &settings.master_key_file;
    if !master.is_file() {
        warn(&format!(
            "the master key {} (BERTH_MASTER_KEY_FILE) does not exist. A Berth that never started has none yet (the first start makes one); \
             if this one has run, its 2FA secrets, signing keys and sessions open only with the master key it made: is BERTH_DATA its folder?",
            master.display()
        ));
    }
    let target = target.trim();
    let report = crate::db::migrate_to::migrate_to(&file, target)?;
    let shown = crate::db::shown(target);
    println!("copied {} into {shown} in {:.1} s; rows per table, counted in both:", file.display(), report.seconds);
    for (table, rows) in &report.tables {
        println!("  {table:<24} {rows:>10}");
    }
    println!(
        "next: set BERTH_DATABASE_URL='{shown}' for every Berth instance (its password through PGPASSWORD, ~/.pgpass or the URL), \
         give each instance a copy of the master key {} (BERTH_MASTER_KEY_FILE), and start Berth. \
         The SQLite database is left as it was: keep it until the move is proven, and start no Berth on it again.",
        master.display()
    );
    Ok(())
}

fn keys(settings: Settings, command: KeysCommand) -> Result<(), String> {
    let (mut conn, keys, signing, _in_use) = open_keys(&settings)?;
    let c: &mut Conn = &mut conn;
    let now = SystemClock.now();
    match command {
        KeysCommand::Rotate => {
            let kid = registry_keys::publish(c, &keys, now).map_err(|e| e.chain())?;
            println!("published new key {kid}; key {} still signs", signing.kid);
            println!("next:");
            println!("  1. berth registry-config --bundle PATH   write the bundle with both certificates where the registry's rootcertbundle points");
            println!("  2. reload the registry (e.g. systemctl restart docker-registry), so that it trusts the new key");
            println!("  3. berth keys activate                  every running Berth signs with the new key within {RECHECK_SECONDS} s");
        }
        KeysCommand::Activate => match registry_keys::activate(c, now) {
            Ok(Some(done)) => {
                println!("key {} signs registry tokens now; every running Berth switches within {RECHECK_SECONDS} s", done.kid);
                if let Some(previous) = done.previous {
                    println!("key {previous} no longer signs; its certificate stays in the bundle so the tokens it signed verify until they expire");
                }
            }
            Ok(None) => {
                return Err(format!(
                    "nothing to activate: no published key waits (key {} signs). Run `berth keys rotate`, write the bundle with `berth registry-config`, reload the registry, then activate",
                    signing.kid
                ));
            }
            Err(crate::Error::Taken(_)) => return Err("another activation ran at the same time and changed nothing here: see `berth keys list`".into()),
            Err(e) => return Err(e.chain()),
        },
        KeysCommand::List => {
            let time = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
            println!("{:<60} {:<10} {:<20} NOTE", "KID", "STATUS", "CREATED (UTC)");
            for k in registry_keys::list(c).map_err(|e| e.chain())? {
                let mut notes = Vec::new();
                match (k.status, k.verifies_until) {
                    (Status::Published, _) => notes.push("in the bundle; `berth keys activate` makes it sign".to_string()),
                    (Status::Previous, Some(until)) if until > now => notes.push(format!("its tokens may be live until {} UTC", time(until))),
                    (Status::Previous, _) => notes.push("no token it signed is live: `berth keys retire` may take it out of the bundle".to_string()),
                    (Status::Retired, _) => notes.push(format!("out of the bundle since {} UTC", time(k.retired_at.unwrap_or_default()))),
                    (Status::Signing, _) => {}
                }
                if !k.has_private_key {
                    notes.push("certificate only".into());
                }
                let line = format!("{:<60} {:<10} {:<20} {}", k.kid, k.status.as_str(), time(k.created_at), notes.join("; "));
                println!("{}", line.trim_end());
            }
        }
        KeysCommand::Retire { kid } => match registry_keys::retire(c, &kid, now).map_err(|e| e.chain())? {
            Ok(()) => println!("retired key {kid}: the next `berth registry-config` writes the bundle without its certificate"),
            Err(NotRetired::Unknown) => return Err(format!("no signing key {kid:?}: `berth keys list` lists them")),
            Err(NotRetired::Signing) => return Err(format!("key {kid} signs registry tokens: rotate and activate another key first")),
            Err(NotRetired::AlreadyRetired) => return Err(format!("key {kid} is retired already")),
            Err(NotRetired::StillVerifies(until)) => {
                let at = chrono::DateTime::from_timestamp(until, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                return Err(format!("tokens key {kid} signed may be live until {at} UTC: retire it after that"));
            }
        },
    }
    Ok(())
}

fn dev(settings: Settings, command: DevCommand) -> Result<(), String> {
    let (users, tokens_per_user, prefix, plan, password, tokens_out) = match command {
        DevCommand::Seed { users, tokens_per_user, prefix, plan, password, tokens_out } => (users, tokens_per_user, prefix, plan, password, tokens_out),
        DevCommand::SeedOrg { name, owner, member_prefix, members, teams, repositories } => {
            let mut conn = open_existing_db(&settings)?;
            let _in_use = sqlite_in_use(&settings)?;
            let started = std::time::Instant::now();
            let spec = crate::dev::OrgSpec { name: &name, owner: &owner, member_prefix: &member_prefix, members, teams, repositories };
            let rows = crate::dev::seed_org(&mut conn, &spec, SystemClock.now()).map_err(|e| e.chain())?;
            println!("seeded organization {name}: {rows} rows in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
    };
    accounts::normalize_username(&format!("{prefix}0")).map_err(|e| format!("--prefix {prefix:?}: {e}"))?;
    let plan: Plan = plan.parse()?;
    let mut conn = open_or_create_db(&settings)?;
    let _in_use = sqlite_in_use(&settings)?;
    let started = std::time::Instant::now();
    let hash = accounts::password::hash(&SecretString::from(password));
    let mut file = match &tokens_out {
        Some(p) => Some(std::io::BufWriter::new(owner_only_file(p).map_err(|e| format!("{}: {e}", p.display()))?)),
        None => None,
    };
    let out = file.as_mut().map(|f| f as &mut dyn std::io::Write);
    let spec = crate::dev::SeedSpec { prefix: &prefix, users, tokens_per_user, plan, password_hash: &hash };
    let s = crate::dev::seed(&mut conn, &spec, SystemClock.now(), out).map_err(|e| e.to_string())?;
    if let Some(mut f) = file {
        std::io::Write::flush(&mut f).map_err(|e| e.to_string())?;
    }
    println!("seeded {} users and {} tokens in {:.1} s", s.users, s.tokens, started.elapsed().as_secs_f64());
    Ok(())
}

/// A file for plaintext tokens: created 0600, or truncated and made 0600 if it exists.
fn owner_only_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

fn user(settings: Settings, command: UserCommand) -> Result<(), String> {
    // the first operator may be added before Berth ever started; every other command needs its database
    let mut conn = if matches!(command, UserCommand::Add { .. }) { open_or_create_db(&settings)? } else { open_existing_db(&settings)? };
    // a change made while `migrate-to` copies would be lost to the copy
    let _in_use = sqlite_in_use(&settings)?;
    let c: &mut Conn = &mut conn;
    match command {
        UserCommand::Add { name, email, plan, operator, password_stdin } => {
            let username = accounts::normalize_username(&name).map_err(|e| format!("username {name:?}: {e}"))?;
            let (email, email_normalized) = accounts::normalize_email(&email).map_err(|e| format!("email {email:?}: {e}"))?;
            let plan: Plan = plan.parse()?;
            let password = read_password(password_stdin)?;
            accounts::password::check_policy(password.expose_secret(), &username).map_err(|e| format!("password: {e}"))?;
            let password_hash = accounts::password::hash(&password);
            let new = NewAccount { username: username.clone(), email, email_normalized, password_hash, plan, operator };
            let user = accounts::create(c, new, SystemClock.now()).map_err(|e| match e {
                crate::Error::Taken("username") => {
                    format!("the username {username:?} is taken (by a user or an organization, or kept reserved after a deletion: `berth names list`)")
                }
                crate::Error::Taken(_) => "an account with this email address exists already".to_string(),
                other => other.chain(),
            })?;
            log_operator(c, user.id, "account created by an operator")?;
            println!("created user {} ({} plan{})", user.username, plan, if operator { ", operator" } else { "" });
        }
        UserCommand::List => {
            println!("{:<30} {:<40} {:<9} {:<4} {:<8} {:<8}", "USERNAME", "EMAIL", "PLAN", "2FA", "OPERATOR", "STATUS");
            for u in accounts::list(c).map_err(|e| e.to_string())? {
                let home = crate::owners::of_user(c, u.id).map_err(|e| e.to_string())?;
                println!(
                    "{:<30} {:<40} {:<9} {:<4} {:<8} {:<8}",
                    u.username,
                    u.email,
                    home.plan,
                    if u.has_second_factor() { "on" } else { "off" },
                    if u.is_operator { "yes" } else { "no" },
                    if u.is_disabled { "disabled" } else { "active" }
                );
            }
        }
        UserCommand::Plan { name, plan } => {
            let plan: Plan = plan.parse()?;
            let u = find(c, &name)?;
            accounts::set_plan(c, u.id, plan).map_err(|e| e.to_string())?;
            log_operator(c, u.id, &format!("plan set to {plan}"))?;
            println!("{} is now on the {plan} plan", u.username);
            // a downgrade deletes nothing: the tokens keep working, new ones wait
            let held = crate::owners::of_user(c, u.id).map_err(|e| e.to_string())?.token_count;
            if let Some(limit) = plan.token_limit().filter(|limit| held > i64::from(*limit)) {
                warn(&format!(
                    "{} holds {held} access tokens, more than the {plan} plan's {limit}. They keep working as they are; no new one can be created until fewer than {limit} are left.",
                    u.username
                ));
            }
        }
        UserCommand::Operator { name, state } => {
            let u = find(c, &name)?;
            let on = matches!(state, OnOff::On);
            accounts::set_operator(c, u.id, on).map_err(|e| e.to_string())?;
            log_operator(c, u.id, if on { "operator rights granted" } else { "operator rights removed" })?;
            println!("{} is {} an operator", u.username, if on { "now" } else { "no longer" });
        }
        UserCommand::SetPassword { name, password_stdin } => {
            let u = find(c, &name)?;
            let password = read_password(password_stdin)?;
            accounts::password::check_policy(password.expose_secret(), &u.username).map_err(|e| format!("password: {e}"))?;
            let hash = accounts::password::hash(&password);
            let ended = accounts::set_password(c, u.id, &hash, None).map_err(|e| e.to_string())?;
            log_operator(c, u.id, "password set by an operator")?;
            println!("password of {} changed; {ended} session(s) ended; access tokens kept", u.username);
        }
        UserCommand::Reset2fa { name } => {
            let u = find(c, &name)?;
            if !u.has_second_factor() && !crate::twofactor::any(c, u.id).map_err(|e| e.to_string())? {
                println!("{} has no two-factor authentication to reset", u.username);
                return Ok(());
            }
            crate::twofactor::disable(c, u.id).map_err(|e| e.to_string())?;
            log_operator(c, u.id, "two-factor authentication reset by an operator")?;
            println!("two-factor authentication of {} is off; recovery codes deleted", u.username);
        }
        UserCommand::Disable { name } => {
            let u = find(c, &name)?;
            accounts::set_disabled(c, u.id, true).map_err(|e| e.to_string())?;
            log_operator(c, u.id, "account disabled by an operator")?;
            println!("{} is disabled: no sign-in, no token works, sessions ended", u.username);
        }
        UserCommand::Enable { name } => {
            let u = find(c, &name)?;
            accounts::set_disabled(c, u.id, false).map_err(|e| e.to_string())?;
            log_operator(c, u.id, "account enabled by an operator")?;
            println!("{} is enabled", u.username);
        }
        UserCommand::RevokeTokens { name } => {
            let u = find(c, &name)?;
            let n = crate::tokens::revoke_all(c, u.id, &Client::cli(), SystemClock.now()).map_err(|e| e.to_string())?;
            log_operator(c, u.id, &format!("{n} access token(s) revoked by an operator"))?;
            println!("{n} access token(s) of {} revoked (deleted)", u.username);
        }
    }
    Ok(())
}

fn find_org(conn: &mut Conn, name: &str) -> Result<crate::owners::Owner, String> {
    crate::orgs::find(conn, name).map_err(|e| e.chain())?.ok_or_else(|| format!("no organization named {:?}", name.trim().to_lowercase()))
}

fn org(settings: Settings, command: OrgCommand) -> Result<(), String> {
    let mut conn = open_existing_db(&settings)?;
    let _in_use = sqlite_in_use(&settings)?;
    let c: &mut Conn = &mut conn;
    let (actor, now) = (crate::orgs::Actor::cli(), SystemClock.now());
    match command {
        OrgCommand::Add { name, owner, plan } => {
            let plan: Plan = plan.parse()?;
            crate::orgs::check_org_plan(plan).map_err(|e| format!("plan {plan}: {e}"))?;
            let owner = find(c, &owner)?;
            let org = crate::orgs::create(c, &name, &owner, plan, &actor, now).map_err(|e| match e {
                crate::Error::Taken(_) => format!("the name {:?} is taken (by a user, an organization, or kept reserved: `berth names list`)", name.trim().to_lowercase()),
                crate::Error::Invalid { why, .. } => format!("name {name:?}: {why}"),
                other => other.chain(),
            })?;
            println!("created organization {} ({} plan), owner {}", org.name, org.plan, owner.username);
        }
        OrgCommand::List => {
            println!("{:<30} {:<9} {:>7} {:<8}", "ORGANIZATION", "PLAN", "MEMBERS", "2FA");
            for (org, members) in crate::orgs::list_all(c).map_err(|e| e.chain())? {
                println!("{:<30} {:<9} {:>7} {:<8}", org.name, org.plan, members, if org.require_two_factor { "required" } else { "optional" });
            }
        }
        OrgCommand::Plan { name, plan } => {
            let plan: Plan = plan.parse()?;
            let org = find_org(c, &name)?;
            crate::orgs::set_plan(c, &org, plan, &actor, now).map_err(|e| format!("plan {plan}: {e}"))?;
            println!("{} is now on the {plan} plan", org.name);
        }
        OrgCommand::Member { command: OrgMemberCommand::Add { org, user, role, team } } => {
            let role: crate::owners::Role = role.parse()?;
            let org = find_org(c, &org)?;
            let u = find(c, &user)?;
            crate::orgs::add_member(c, &org, &u, role, team.as_deref(), &actor, now).map_err(|e| match e {
                crate::Error::Invalid { why, .. } => why.into_owned(),
                other => other.chain(),
            })?;
            let team = team.map(|t| format!(", team {}", t.trim().to_lowercase())).unwrap_or_default();
            println!("{} is now a member of {} (role {}{team})", u.username, org.name, role.as_str());
        }
        OrgCommand::Member { command: OrgMemberCommand::Remove { org, user } } => {
            let org = find_org(c, &org)?;
            crate::orgs::remove_member(c, &org, &user, &actor, now).map_err(|e| match e {
                crate::Error::NotFound => format!("{:?} is not a member of {}", user.trim().to_lowercase(), org.name),
                crate::Error::Invalid { why, .. } => why.into_owned(),
                other => other.chain(),
            })?;
            println!("{} is no longer a member of {}", user.trim().to_lowercase(), org.name);
        }
        OrgCommand::Delete { name } => {
            let org = find_org(c, &name)?;
            crate::orgs::delete(c, &org, now).map_err(|e| match e {
                crate::Error::Invalid { why, .. } => why.into_owned(),
                other => other.chain(),
            })?;
            println!("deleted organization {}; the name stays reserved (`berth names release {}` frees it)", org.name, org.name);
        }
    }
    Ok(())
}

fn names(settings: Settings, command: NamesCommand) -> Result<(), String> {
    let mut conn = open_existing_db(&settings)?;
    let _in_use = sqlite_in_use(&settings)?;
    let c: &mut Conn = &mut conn;
    match command {
        NamesCommand::List => {
            println!("{:<30} {:<20}", "NAME", "RESERVED (UTC)");
            for (name, at) in crate::owners::reserved(c).map_err(|e| e.chain())? {
                let at = chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().format("%Y-%m-%d %H:%M");
                println!("{name:<30} {at:<20}");
            }
        }
        NamesCommand::Release { name } => {
            let name = name.trim().to_lowercase();
            if !crate::owners::release(c, &name).map_err(|e| e.chain())? {
                return Err(format!("{name:?} is not reserved: `berth names list` lists the reserved names"));
            }
            println!("{name} may be taken again by a new account or organization");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_no_setting_is_global() {
        Cli::command().debug_assert();
        // a global flag would be listed in every subcommand's --help again
        let global: Vec<String> = Cli::command().get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().to_string()).collect();
        assert!(global.is_empty(), "global settings: {global:?}");
    }

    #[test]
    fn settings_still_reach_subcommands_from_flags_before_them() {
        let cli = Cli::try_parse_from(["berth", "--data", "/srv/berth", "--database-url", "/srv/db", "user", "list"]).unwrap();
        assert_eq!(cli.args.data, std::path::PathBuf::from("/srv/berth"));
        assert_eq!(cli.args.database_url.as_deref(), Some("/srv/db"));
        assert!(matches!(cli.command, Some(Command::User { command: UserCommand::List })));
        // a server flag is not an option of a subcommand
        assert!(Cli::try_parse_from(["berth", "registry-config", "--throttle-base-seconds", "5"]).is_err());
    }

    #[test]
    fn serve_takes_its_settings_before_or_after_serve_but_not_on_both_sides() {
        let parse = |argv: &[&str]| {
            let matches = Cli::command().try_get_matches_from(argv).unwrap();
            let cli = Cli::from_arg_matches(&matches).unwrap();
            serve_args(&cli, &matches).map(|a| a.bind.clone())
        };
        assert_eq!(parse(&["berth", "--bind", "127.0.0.1:1"]).unwrap(), "127.0.0.1:1");
        assert_eq!(parse(&["berth", "--bind", "127.0.0.1:2", "serve"]).unwrap(), "127.0.0.1:2");
        assert_eq!(parse(&["berth", "serve", "--bind", "127.0.0.1:3"]).unwrap(), "127.0.0.1:3");
        assert_eq!(parse(&["berth", "serve"]).unwrap(), parse(&["berth"]).unwrap(), "the same variables and defaults on both sides");
        assert!(parse(&["berth", "--data", "/srv", "serve", "--bind", "127.0.0.1:4"]).unwrap_err().contains("either before or after"));
    }

    #[test]
    fn the_database_file_of_a_sqlite_url() {
        assert_eq!(database_file("data/berth.db"), Some("data/berth.db".into()));
        assert_eq!(database_file("file:/srv/berth.db?mode=rwc"), Some("/srv/berth.db".into()));
        assert_eq!(database_file(":memory:"), None);
        assert_eq!(database_file("file::memory:?cache=shared"), None);
    }
}
