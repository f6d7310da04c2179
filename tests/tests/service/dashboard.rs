//! The Grafana dashboard of docker/grafana queries only metrics that
//! `GET /metrics` serves, covers every family of the service, and is wired to
//! the Prometheus of docker/compose.yml. Its PromQL is read here, not run: a
//! metric name is an identifier that is not a function, keyword, label or
//! grouping clause, and `_bucket`, `_sum` and `_count` name their histogram.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::{Behaviour, ServerProcess, WebhookReceiver, eventually, sample_order, temp_dir};
use serde_json::{Value, json};

const DASHBOARD: &str = "docker/grafana/dashboards/orders.json";
const DATASOURCE: &str = "docker/grafana/provisioning/datasources/prometheus.yml";
const DASHBOARD_PROVIDER: &str = "docker/grafana/provisioning/dashboards/orders.yml";
const PROMETHEUS: &str = "docker/prometheus/prometheus.yml";
const COMPOSE: &str = "docker/compose.yml";

/// Every family `/metrics` serves, with its type: what an operator has.
const FAMILIES: [(&str, &str); 18] = [
    ("http_requests_total", "counter"),
    ("http_request_duration_seconds", "histogram"),
    ("db_pool_max_connections", "gauge"),
    ("db_pool_connections_in_use", "gauge"),
    ("db_pool_acquire_duration_seconds", "histogram"),
    ("db_operation_duration_seconds", "histogram"),
    ("outbox_pending", "gauge"),
    ("outbox_oldest_pending_age_seconds", "gauge"),
    ("outbox_sent_total", "counter"),
    ("outbox_failed_total", "counter"),
    ("outbox_retries_total", "counter"),
    ("outbox_delivery_attempts", "histogram"),
    ("outbox_delivery_latency_seconds", "histogram"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_threads", "gauge"),
];

const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Words followed by a label list in parentheses, not by an expression.
const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Words that stand alone and are no metric.
const KEYWORDS: [&str; 8] = ["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"];

fn read(path: &str) -> String {
    std::fs::read_to_string(harness::workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `expr` in the dashboard, also in collapsed rows' panels.
fn queries(dashboard: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dashboard];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(members) => {
                if let Some(Value::String(expr)) = members.get("expr") {
                    found.push(expr.clone());
                }
                stack.extend(members.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// The index just past the quoted string that starts at `start`.
fn past_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    panic!("unterminated string in {:?}", chars.iter().collect::<String>())
}

/// The index just past the `close` that ends the group opened at `start`
/// (strings inside it may hold the closing character).
fn past_group(chars: &[char], start: usize, close: char) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = past_string(chars, i),
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    panic!("no {close:?} closes the group in {:?}", chars.iter().collect::<String>())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Whether the word at `at` is `by` or `without`: what precedes it is an
/// aggregation (`sum by (route) (…)`), not a metric.
fn grouped(chars: &[char], at: Option<usize>) -> bool {
    let Some(at) = at else { return false };
    let word: String = chars[at..].iter().take_while(|c| is_name_char(**c)).collect();
    matches!(word.to_ascii_lowercase().as_str(), "by" | "without")
}

/// The metric names a PromQL expression selects, as written (with any
/// `_bucket`/`_sum`/`_count`). Label matchers, ranges, strings, numbers,
/// durations and Grafana's `$variables` are skipped; a name followed by `(`,
/// `by` or `without` is a function or an aggregation.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = past_string(&chars, i);
        } else if c == '{' {
            i = past_group(&chars, i, '}');
        } else if c == '[' {
            i = past_group(&chars, i, ']');
        } else if c == '#' {
            i = chars[i..].iter().position(|c| *c == '\n').map_or(chars.len(), |n| i + n);
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = past_group(&chars, i, '}');
            } else {
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // Numbers (1.5e3, 0x1f) and durations (5m, 1h30m).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = chars[i..].iter().position(|c| !c.is_whitespace()).map(|n| i + n);
            let opens = after.is_some_and(|n| chars[n] == '(');
            let lower = word.to_ascii_lowercase();
            if GROUPING.contains(&lower.as_str()) {
                if let Some(open) = after.filter(|_| opens) {
                    i = past_group(&chars, open, ')');
                }
            } else if !opens && !KEYWORDS.contains(&lower.as_str()) && !grouped(&chars, after) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The family a series name belongs to, and whether it named a histogram's series.
fn family(name: &str) -> (&str, bool) {
    HISTOGRAM_SERIES.iter().find_map(|suffix| name.strip_suffix(suffix)).map_or((name, false), |base| (base, true))
}

/// Every metric name the dashboard's queries select.
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    let queries = queries(&dashboard);
    assert!(queries.len() >= 20, "the dashboard has {} queries", queries.len());
    let names: BTreeSet<String> = queries.iter().flat_map(|expr| metric_names(expr)).collect();
    assert!(names.len() >= FAMILIES.len(), "the queries name only {names:?}");
    names
}

/// Family → type, from the `# TYPE` lines of a Prometheus text exposition.
fn served_types(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// What is wrong with querying `names` from this exposition: a family it does
/// not serve, or a histogram's series asked of a family that is no histogram.
fn unserved(names: &BTreeSet<String>, exposition: &str) -> Vec<String> {
    let served = served_types(exposition);
    let mut problems = Vec::new();
    for name in names {
        let (family, histogram_series) = family(name);
        match served.get(family).map(String::as_str) {
            None => problems.push(format!("{name}: no `# TYPE {family}` line")),
            Some(kind) if histogram_series && !matches!(kind, "histogram" | "summary") => {
                problems.push(format!("{name}: {family} is a {kind}"));
            }
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn the_query_reader_finds_metrics_and_skips_functions_labels_and_keywords() {
    let cases: [(&str, &[&str]); 9] = [
        (
            r#"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{route!="unmatched"}[$__rate_interval])))"#,
            &["http_request_duration_seconds_bucket"],
        ),
        (
            r#"sum(rate(a_total{status=~"5..", x="}"}[5m])) / ignoring(status) group_left sum(rate(b_total[1h:5m] offset 1d))"#,
            &["a_total", "b_total"],
        ),
        (
            "max by (kind) (outbox_pending) > bool 100 and on(kind) c unless d or vector(0)",
            &["c", "d", "outbox_pending"],
        ),
        ("time() - process_start_time_seconds", &["process_start_time_seconds"]),
        (r#"label_replace(up, "dst", "$1", "instance", "(.*):.*")"#, &["up"]),
        ("sum without (instance) (x:rate5m) * -1.5e3 + Inf - .5 * NaN", &["x:rate5m"]),
        ("sum (rate(y_count [${__rate_interval}])) by (kind) / sum(z_sum @ 1609746000)", &["y_count", "z_sum"]),
        ("topk(3, count_values(\"value\", w))  # comment naming not_a_metric", &["w"]),
        ("rate(process_cpu_seconds_total[$__rate_interval])", &["process_cpu_seconds_total"]),
    ];
    for (expr, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(metric_names(expr), expected, "{expr}");
    }
    assert_eq!(family("http_request_duration_seconds_bucket"), ("http_request_duration_seconds", true));
    assert_eq!(family("outbox_delivery_attempts_count"), ("outbox_delivery_attempts", true));
    assert_eq!(family("outbox_sent_total"), ("outbox_sent_total", false));
}

#[test]
fn an_exposition_serves_the_families_of_its_type_lines() {
    let exposition = "\
# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{method=\"POST\",route=\"/orders\",status=\"201\"} 1
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method=\"POST\",route=\"/orders\",status=\"201\",le=\"0.005\"} 1
http_request_duration_seconds_bucket{method=\"POST\",route=\"/orders\",status=\"201\",le=\"+Inf\"} 1
http_request_duration_seconds_sum{method=\"POST\",route=\"/orders\",status=\"201\"} 0.0031
http_request_duration_seconds_count{method=\"POST\",route=\"/orders\",status=\"201\"} 1

# TYPE outbox_pending gauge
outbox_pending{kind=\"email\"} 0
";
    let types = served_types(exposition);
    assert_eq!(types.len(), 3, "{types:?}");
    assert_eq!(types["http_request_duration_seconds"], "histogram");
    assert_eq!(types["outbox_pending"], "gauge");

    let fine: BTreeSet<String> =
        ["http_requests_total", "http_request_duration_seconds_bucket", "outbox_pending"].map(str::to_owned).into();
    assert_eq!(unserved(&fine, exposition), Vec::<String>::new());
    let wrong: BTreeSet<String> =
        ["outbox_pending_bucket", "outbox_sent_total", "http_requests"].map(str::to_owned).into();
    assert_eq!(
        unserved(&wrong, exposition),
        [
            "http_requests: no `# TYPE http_requests` line",
            "outbox_pending_bucket: outbox_pending is a gauge",
            "outbox_sent_total: no `# TYPE outbox_sent_total` line",
        ]
    );
}

#[test]
fn the_dashboard_shows_every_family_and_asks_histograms_only_of_histograms() {
    let names = dashboard_metrics();
    let families: BTreeMap<&str, &str> = FAMILIES.into_iter().collect();
    let mut queried = BTreeSet::new();
    for name in &names {
        let (family, histogram_series) = family(name);
        let kind = families.get(family).unwrap_or_else(|| panic!("the dashboard queries {name}, of no known family"));
        assert!(!histogram_series || *kind == "histogram", "the dashboard asks {name} of the {kind} {family}");
        assert!(
            histogram_series || *kind != "histogram",
            "the dashboard queries the histogram {name} without a series"
        );
        queried.insert(family);
    }
    let unshown: Vec<&&str> = families.keys().filter(|f| !queried.contains(*f)).collect();
    assert!(unshown.is_empty(), "families the dashboard does not show: {unshown:?}");
}

/// The value of the first `key: value` line (YAML, this repository's simple layout).
fn yaml_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.trim().trim_start_matches("- ").strip_prefix(&format!("{key}:")))
        .map(|rest| rest.split(" #").next().unwrap().trim().to_owned())
        .unwrap_or_else(|| panic!("no {key}: in {text}"))
}

#[test]
fn the_compose_profile_wires_the_datasource_the_dashboard_and_the_key() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    let uid = yaml_value(&read(DATASOURCE), "uid");
    let mut stack = vec![&dashboard];
    let mut named = 0;
    while let Some(value) = stack.pop() {
        if let Some(datasource) = value.get("datasource") {
            assert_eq!(datasource["uid"], uid, "a panel or query names another datasource: {datasource}");
            named += 1;
        }
        match value {
            Value::Object(members) => stack.extend(members.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(named >= 20, "{named} datasource references");

    let compose = read(COMPOSE);
    let provider_path = yaml_value(&read(DASHBOARD_PROVIDER), "path");
    assert!(
        compose.contains(&format!("./grafana/dashboards:{provider_path}:ro")),
        "Grafana's provider reads {provider_path}"
    );
    let home = yaml_value(&compose, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
    let file = DASHBOARD.rsplit('/').next().unwrap();
    assert_eq!(home, format!("{provider_path}/{file}"), "Grafana opens on the dashboard");

    let credentials = yaml_value(&read(PROMETHEUS), "credentials_file");
    let (folder, file) = credentials.rsplit_once('/').unwrap();
    assert!(compose.contains(&format!("metrics-key:{folder}:ro")), "Prometheus reads the key from {folder}");
    assert!(compose.contains(&format!("> /keys/{file}.new")) && compose.contains("metrics-key:/keys\n"));
    assert!(compose.contains("--scope metrics:read"), "Prometheus's key may read metrics and nothing else");
    assert!(read(PROMETHEUS).contains("- targets: [\"api:8000\"]"), "Prometheus scrapes the API's own port");
}

/// Registers an endpoint of `receiver` at `path` for new orders.
async fn subscribe(api: &harness::Api, receiver: &WebhookReceiver, path: &str) {
    let body = json!({"url": receiver.url(path), "events": ["order.created"]});
    let response = api.post_json("/webhook-endpoints", &body).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
}

/// The real binary after an email sent, a webhook retried then sent, and
/// one given up on: every family has been written to at least once.
#[actix_web::test]
async fn every_metric_the_dashboard_queries_is_served() {
    let names = dashboard_metrics();
    let dir = temp_dir("dashboard");
    let receiver = WebhookReceiver::start().await;
    let server = ServerProcess::start(
        &dir,
        &[
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WEBHOOK_RETRY_BASE_MS", "20"),
            ("WEBHOOK_MAX_ATTEMPTS", "2"),
            ("WEBHOOK_SWEEP_INTERVAL_MS", "100"),
        ],
    );
    server.wait_ready().await;
    let api = server.api();
    receiver.answer("/flaky", Behaviour::FailTimes(1));
    receiver.answer("/broken", Behaviour::Status(500));
    subscribe(&api, &receiver, "/flaky").await;
    subscribe(&api, &receiver, "/broken").await;

    api.create_order(&sample_order()).await;
    server.wait_for_output("mock email sent").await;
    receiver.wait_for("/flaky", 2, Duration::from_secs(10)).await;
    eventually("the broken endpoint's delivery to be given up", async || {
        let failed = api.get("/deliveries?kind=webhook&state=failed").await.json();
        (!failed["items"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;

    // Gauges may be refreshed on a timer: wait for every family, then say which are missing.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = api.get("/metrics").await;
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, 200, "GET /metrics with a key of every scope: {body}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let problems = unserved(&names, &body);
        if problems.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard queries what /metrics does not serve:\n{}\n\n{body}",
            problems.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}
