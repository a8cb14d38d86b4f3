//! `sandbox`: serve the sandbox API until Ctrl-C, for trying the tool by hand.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use keepnet_sandbox::{numbered_companies, Config, DeletedRows, Faults, OversizePages, Sandbox};

use crate::cli::SandboxArgs;
use crate::exit::{self, Failure};

/// Starts the sandbox, prints how to use it, and serves until interrupted.
pub async fn run(args: &SandboxArgs) -> Result<(), Failure> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(Failure::usage("--fault-rate must be between 0 and 1"));
    }
    let config = Config {
        seed: args.seed,
        users_per_company: args.users,
        page_cap: args.page_cap.max(1),
        oversize_pages: if args.refuse_oversize_pages {
            OversizePages::Refuse
        } else {
            OversizePages::Cap
        },
        extra_companies: numbered_companies(usize::from(args.extra_companies)),
        token_lifetime: Duration::from_secs(args.token_lifetime.max(1)),
        latency: Duration::from_millis(args.latency_ms),
        faults: Faults {
            rate: args.fault_rate,
            ignore_filter_items: args.ignore_filter_items,
            ..Faults::default()
        },
        deleted_rows: match args.status_only_deleted {
            true => DeletedRows::StatusOnly,
            false => DeletedRows::Flagged,
        },
        ..Config::default()
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let sandbox = Sandbox::start_on(config, addr).await.map_err(|e| {
        Failure::new(exit::USAGE, e).context_msg(format!("cannot listen on {addr}"))
    })?;
    let reseller = sandbox.reseller();
    let admin = sandbox.company_admin();
    println!("Keepnet sandbox listening on {}", sandbox.base_url());
    println!();
    println!("Reseller credential (manages every sandbox company):");
    println!("  export KEEPNET_BASE_URL={}", sandbox.base_url());
    println!("  export KEEPNET_CLIENT_ID={}", reseller.client_id);
    println!("  export KEEPNET_CLIENT_SECRET={}", reseller.client_secret);
    println!();
    println!("Company Admin credential (Globex Corporation only):");
    println!(
        "  KEEPNET_CLIENT_ID={} KEEPNET_CLIENT_SECRET={}",
        admin.client_id, admin.client_secret
    );
    println!();
    println!("These are sandbox-only credentials. Press Ctrl-C to stop.");
    // Ctrl-C, SIGTERM or SIGHUP.
    keepnet_export_core::stop::stopped().await;
    sandbox.shutdown().await;
    Ok(())
}
