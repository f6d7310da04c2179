//! The container files agree with the code: binary name, port, and every
//! environment variable they set is one the server reads (and the README
//! documents). CI has no Docker engine; this is what it can check.

use std::collections::BTreeMap;

fn read(path: &str) -> String {
    let root = harness::workspace_root();
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `environment:` of one service in docker/compose.yml (this file's own
/// simple layout: `KEY: value  # comment`, six spaces in).
fn compose_environment(compose: &str, service: &str) -> BTreeMap<String, String> {
    let mut in_service = false;
    let mut in_environment = false;
    let mut vars = BTreeMap::new();
    for line in compose.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            in_service = line.trim() == format!("{service}:");
            in_environment = false;
        } else if in_service && line.trim() == "environment:" {
            in_environment = true;
        } else if in_environment && line.starts_with("      ") {
            let line = line.split(" #").next().unwrap();
            let (key, value) = line.trim().split_once(':').unwrap();
            let value = value.trim().trim_matches('"');
            // ${NAME:-default} → default
            let value = value.strip_prefix("${").map_or(value, |v| v.split_once(":-").unwrap().1.trim_end_matches('}'));
            vars.insert(key.trim().to_owned(), value.to_owned());
        } else if in_environment && line.starts_with("    ") && !line.starts_with("      ") {
            in_environment = false;
        }
    }
    vars
}

fn dockerfile_env(dockerfile: &str) -> BTreeMap<String, String> {
    let runtime = dockerfile.split("AS runtime").nth(1).unwrap();
    let env = runtime.split("ENV ").nth(1).unwrap();
    let mut vars = BTreeMap::new();
    for part in env.lines().take_while(|l| !l.trim().is_empty() && !l.starts_with("EXPOSE")) {
        let part = part.trim().trim_end_matches('\\').trim();
        if let Some((key, value)) = part.split_once('=') {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
    vars
}

fn port_of(bind: &str) -> &str {
    bind.rsplit(':').next().unwrap()
}

#[test]
fn the_image_runs_the_binary_the_workspace_builds() {
    let dockerfile = read("docker/Dockerfile");
    let manifest = read("crates/server/Cargo.toml");
    assert!(manifest.contains("name = \"orders-server\""));
    assert!(dockerfile.contains("ENTRYPOINT [\"orders-server\"]"));
    assert!(dockerfile.contains("target/release/orders-server /usr/local/bin/orders-server"));
    assert!(dockerfile.contains("CMD [\"orders-server\", \"healthcheck\"]"), "the HEALTHCHECK uses the subcommand");
    assert!(dockerfile.contains("USER orders"), "the runtime is not root");
}

#[test]
fn the_image_exposes_the_port_it_binds_and_sets_only_known_variables() {
    let dockerfile = read("docker/Dockerfile");
    let env = dockerfile_env(&dockerfile);
    assert!(!env.is_empty());
    for name in env.keys() {
        assert!(server::config::VARIABLES.contains(&name.as_str()), "Dockerfile sets unknown {name}");
    }
    let exposed = dockerfile.lines().find_map(|l| l.strip_prefix("EXPOSE ")).unwrap().trim();
    assert_eq!(port_of(&env["BIND_ADDR"]), exposed);
    assert!(env["BIND_ADDR"].starts_with("0.0.0.0:"), "reachable from outside the container");
    let lookup = |name: &str| env.get(name).cloned();
    server::config::Settings::from_lookup(lookup).expect("the image's settings are valid");
}

#[test]
fn compose_sets_only_known_variables_and_publishes_the_bound_port() {
    let compose = read("docker/compose.yml");
    let api = compose_environment(&compose, "api");
    assert!(api.len() >= 5, "{api:?}");
    for name in api.keys().filter(|n| *n != "RUST_LOG") {
        assert!(server::config::VARIABLES.contains(&name.as_str()), "compose sets unknown {name}");
    }
    let settings = server::config::Settings::from_lookup(|name| api.get(name).cloned()).expect("valid settings");
    assert!(matches!(settings.database, persistence::DatabaseUrl::Postgres(_)), "compose runs PostgreSQL");
    let published = format!("\"{port}:{port}\"", port = port_of(&api["BIND_ADDR"]));
    assert!(compose.contains(&published), "compose publishes {published}");
    // The SMTP variant is valid too.
    let mut smtp = api.clone();
    smtp.insert("MAIL_TRANSPORT".into(), "smtp".into());
    server::config::Settings::from_lookup(|name| smtp.get(name).cloned()).expect("valid SMTP settings");

    let test = compose_environment(&compose, "test");
    assert!(test.contains_key("TEST_DATABASE_URL"), "{test:?}");
    assert!(!test.contains_key("SKIP_POSTGRES"), "the containerised suite never skips PostgreSQL");
}

#[test]
fn the_readme_documents_every_variable() {
    let readme = read("README.md");
    for name in server::config::VARIABLES {
        assert!(readme.contains(&format!("| `{name}` |")), "README's configuration table lacks {name}");
    }
}
