//! The `serverless-operator` binary: the controller, and the offline tools around it.
// Denied, not forbidden: one call to the C allocator needs it (`one_malloc_arena`).
#![deny(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use std::net::SocketAddr;
use std::sync::Arc;

use serverless_operator::access::Impersonation;
use serverless_operator::controller::{self, AppsHandle, LeaseOptions, Options};
use serverless_operator::limits::Limits;
use serverless_operator::metrics::Metrics;
use serverless_operator::reconciler::Settings;
use serverless_operator::{admin, crd, footprint, labels, policy, preview, render};

/// Turns ServerlessApp objects into Deployments, Services, HorizontalPodAutoscalers and KEDA
/// scalers. Run it in a cluster with `run`; preview what it would create with `render`.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the `run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or in-cluster config).
    Run(RunArgs),
    /// Print the ServerlessApp CustomResourceDefinition as YAML.
    Crd,
    /// Print the admission policy (Pod Security "restricted" for ServerlessApps) as YAML.
    Policy,
    /// Print every object the ServerlessApps in a file would own, as multi-document YAML, without
    /// a cluster. Invalid apps get the error the API server would give, and a non-zero exit.
    Render {
        /// File with one or more ServerlessApps (other kinds are skipped); `-` reads stdin.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: PathBuf,
    },
    /// Print what applying the ServerlessApps in a file would change in their children, read
    /// from the cluster of the current kubeconfig without writing: `+` created, `~` changed
    /// (each field, before -> after), `-` pruned. Exits 0 when nothing would change, 1 when
    /// something would, 2 on error, like `kubectl diff`.
    Diff {
        /// File with one or more ServerlessApps (other kinds are skipped); `-` reads stdin.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: PathBuf,
        /// Namespace of the apps that name none (default: the kubeconfig's).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Field manager the operator applies with.
        #[arg(long, env = "FIELD_MANAGER", default_value = labels::FIELD_MANAGER)]
        field_manager: String,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Reconcile only the apps this label selector matches, to split apps between several
    /// operator instances (shards). Selects by `sharding.fluxcd.io/key`, as Flux does: give
    /// each shard `sharding.fluxcd.io/key=NAME` and the instance that takes every other app
    /// `!sharding.fluxcd.io/key`. Give each shard its own --lease-name too.
    #[arg(long, env = "WATCH_LABEL_SELECTOR", value_name = "SELECTOR")]
    watch_label_selector: Option<String>,
    /// Reconcile only the apps of namespaces this label selector matches, e.g.
    /// `serverless-operator.dev/enabled=true`. Labelling a namespace starts reconciling its
    /// apps within seconds; unlabelling stops it and leaves its children as they are.
    #[arg(long, env = "NAMESPACE_SELECTOR", value_name = "SELECTOR")]
    namespace_selector: Option<String>,
    /// Apps reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Seconds between reconciles of an app when nothing changes (each is a no-op then).
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 300)]
    resync_seconds: u64,
    /// Least seconds between two status writes of an app that only report progress, and how
    /// long a new app's first status waits (Ready, Stalled and failures are written at once).
    #[arg(long, env = "STATUS_INTERVAL_SECONDS", default_value_t = 10)]
    status_interval_seconds: u64,
    /// Status writes per second, all apps together, that only report progress. Ready, Stalled
    /// and failures are written at once; while many apps converge, their children go first.
    #[arg(long, env = "PROGRESS_WRITES_PER_SECOND", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    progress_writes_per_second: u32,
    /// Field manager name of every server-side apply.
    #[arg(long, env = "FIELD_MANAGER", default_value = labels::FIELD_MANAGER)]
    field_manager: String,
    /// Address of the HTTP server for /metrics, /livez and /readyz (port 0 picks a free one).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Reconcile only while holding a Lease, so several replicas can run.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "serverless-operator")]
    lease_name: String,
    /// Namespace of the Lease (in a cluster: the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Identity of this replica in the Lease (default: the pod name, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds the Lease stays valid without renewal; a standby takes over after that.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Let KEDA triggers use a ClusterTriggerAuthentication (a credential of the whole cluster,
    /// then usable by any app in any namespace the operator watches).
    #[arg(
        long,
        env = "ALLOW_CLUSTER_TRIGGER_AUTHENTICATION",
        default_value_t = false
    )]
    allow_cluster_trigger_authentication: bool,
    /// Write each app's children as the ServiceAccount of this name in the app's namespace
    /// (which must exist and may create them), so an app gets exactly what that account may
    /// create, and may use only the Secrets, ConfigMaps and ServiceAccounts it may use.
    #[arg(long, env = "IMPERSONATE_SERVICE_ACCOUNT", value_name = "NAME")]
    impersonate_service_account: Option<String>,
    /// Memory the operator may use, in MiB (default: its cgroup's limit, the container's
    /// `resources.limits.memory`). Past 90% of it the controller stops, says so and tries
    /// again in 5 minutes, rather than being killed and restarted into the same state.
    #[arg(long, env = "MEMORY_LIMIT_MIB")]
    memory_limit_mib: Option<u64>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Policy => {
            print!("{}", policy::policy_yaml());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("serverless-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Render { file } => render_file(&file),
        Command::Diff {
            file,
            namespace,
            field_manager,
        } => diff_file(&file, namespace, &field_manager),
        Command::Run(args) => run(args),
    }
}

/// glibc's allocator gives threads that allocate at once arenas of their own (up to 8 per
/// core), and memory freed in one arena is not reused by another. The runtime's threads take
/// turns on the same caches, so one arena holds the same objects in less memory: 3 MiB less
/// peak RSS at 1000 apps in `make bench`. Other C libraries (musl) have no arenas to limit.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn one_malloc_arena() {
    // SAFETY: `mallopt` only sets a parameter of the allocator, and this runs before the
    // runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// The text of `file`, or of stdin for `-`.
fn read_input(file: &PathBuf) -> Result<String, String> {
    let input = if file.as_os_str() == "-" {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).map(|_| buf)
    } else {
        std::fs::read_to_string(file)
    };
    input.map_err(|err| format!("reading {}: {err}", file.display()))
}

fn diff_file(file: &PathBuf, namespace: Option<String>, field_manager: &str) -> ExitCode {
    // kubectl diff's codes: 0 nothing to change, 1 changes, 2 (here: > 1) an error.
    let error = |err: String| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    };
    let input = match read_input(file) {
        Ok(input) => input,
        Err(err) => return error(err),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return error(format!("starting the runtime: {err}")),
    };
    runtime.block_on(async {
        let client = match kube::Client::try_default().await {
            Ok(client) => client,
            Err(err) => return error(format!("connecting to the cluster: {err}")),
        };
        let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
        match preview::plan(&client, &input, &ns, field_manager).await {
            Ok(plans) => {
                print!("{}", preview::report(&plans));
                if preview::changes_anything(&plans) {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(err) => error(err.to_string()),
        }
    })
}

fn render_file(file: &PathBuf) -> ExitCode {
    let input = match read_input(file) {
        Ok(input) => input,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match render::render(&input) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    one_malloc_arena();
    init_logging(args.log_format);
    if let Some(selector) = &args.namespace_selector {
        if let Err(err) = labels::check_selector(selector) {
            tracing::error!("--namespace-selector {err}");
            return ExitCode::from(2);
        }
        tracing::info!(%selector, "reconciling only the apps of the namespaces this selects");
    }
    if let Some(selector) = &args.watch_label_selector {
        if let Err(err) = labels::check_shard_selector(selector) {
            tracing::error!("--watch-label-selector {err}");
            return ExitCode::from(2);
        }
        tracing::info!(%selector, "reconciling only the apps of this shard");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let (client, config) = match client(metrics.clone()).await {
            Ok(built) => built,
            Err(err) => {
                tracing::error!(error = %err, "cannot build a Kubernetes client");
                return ExitCode::FAILURE;
            }
        };
        let impersonation = args.impersonate_service_account.map(|account| {
            tracing::info!(%account, "writing apps' children as this ServiceAccount of their namespace");
            Arc::new(Impersonation::new(account, config, metrics.clone()))
        });
        let listener = match tokio::net::TcpListener::bind(args.metrics_addr).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(error = %err, addr = %args.metrics_addr, "cannot listen for metrics");
                return ExitCode::FAILURE;
            }
        };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving /metrics, /livez, /readyz");
        }
        let apps = AppsHandle::default();
        tokio::spawn(admin::serve(listener, metrics.clone(), apps.clone()));

        // The pod name when in a cluster: the Events' reporting instance too.
        let instance = args.identity.clone();
        let identity = args.identity.unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
            format!("{host}-{}", std::process::id())
        });
        let options = Options {
            namespace: args.namespace,
            shard: args.watch_label_selector,
            namespace_selector: args.namespace_selector,
            concurrency: args.concurrency,
            settings: Settings {
                resync: Duration::from_secs(args.resync_seconds),
                status_interval: Duration::from_secs(args.status_interval_seconds),
                progress_writes_per_second: args.progress_writes_per_second,
                field_manager: args.field_manager,
                limits: Limits {
                    allow_cluster_trigger_authentication: args.allow_cluster_trigger_authentication,
                },
                ..Settings::default()
            },
            leader_election: args.leader_elect.then(|| LeaseOptions {
                name: args.lease_name,
                namespace: args.lease_namespace,
                identity,
                duration_seconds: args.lease_duration_seconds,
                grace_seconds: (args.lease_duration_seconds / 3).max(1),
            }),
            impersonation,
            instance,
            memory_limit: args
                .memory_limit_mib
                .map(|mib| mib << 20)
                .or_else(footprint::cgroup_limit),
        };
        if let Some(limit) = options.memory_limit {
            tracing::info!(limit_mib = limit >> 20, "memory limit");
        }
        match controller::run_until_shutdown(client, options, metrics, apps).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "leader election failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// A client from the kubeconfig or in-cluster config, counting every request it sends, and the
/// config it was built from.
async fn client(metrics: Arc<Metrics>) -> Result<(kube::Client, kube::Config), kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    Ok((
        serverless_operator::client::build(config.clone(), metrics)?,
        config,
    ))
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
