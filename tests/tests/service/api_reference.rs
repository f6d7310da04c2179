//! `docs/api.md`, the reference for API users, and the served `/openapi.json`
//! describe the same API: the same operations and the same problem codes.
//! And the repository stands on its own: nothing it tracks points outside it.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use harness::{Backend, spawn_app};
use serde_json::Value;

const REFERENCE: &str = "docs/api.md";
/// The header row of the reference's table of problem codes.
const PROBLEM_TABLE_HEADER: &str = "| status | code | when |";

type Endpoint = (String, String);

fn reference() -> String {
    let path = harness::workspace_root().join(REFERENCE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn served_document() -> (harness::TestApp, Value) {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    let document = response.json();
    (app, document)
}

/// `(METHOD, path)` of every operation of the OpenAPI document.
fn operations(document: &Value) -> BTreeSet<Endpoint> {
    let paths = document["paths"].as_object().expect("the document has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some() {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// `(METHOD, path)` of every endpoint heading of the reference:
/// ``### `METHOD /path` ``. A heading that starts like one but is not
/// well-formed fails the test rather than being skipped.
fn endpoint_headings(text: &str) -> Vec<Endpoint> {
    let mut headings = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("### `") else { continue };
        let endpoint = rest
            .strip_suffix('`')
            .and_then(|inner| inner.split_once(' '))
            .filter(|(method, path)| {
                !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) && path.starts_with('/')
            })
            .unwrap_or_else(|| panic!("{REFERENCE}: malformed endpoint heading {line:?}"));
        headings.push((endpoint.0.to_owned(), endpoint.1.to_owned()));
    }
    headings
}

/// `(status, code)` of every row of the reference's table of problem codes.
fn problem_table(text: &str) -> Vec<(String, String)> {
    let mut lines = text.lines().skip_while(|line| line.trim() != PROBLEM_TABLE_HEADER);
    assert!(lines.next().is_some(), "{REFERENCE} has no table headed {PROBLEM_TABLE_HEADER:?}");
    let separator = lines.next().unwrap_or_default();
    assert!(separator.starts_with("| ---"), "{REFERENCE}: the problem table has no separator row");
    lines
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let code = cells
                .get(2)
                .and_then(|cell| cell.strip_prefix('`'))
                .and_then(|cell| cell.strip_suffix('`'))
                .unwrap_or_else(|| panic!("{REFERENCE}: a problem table row without a `code`: {row:?}"));
            (cells[1].to_owned(), code.to_owned())
        })
        .collect()
}

/// The `enum` of the Problem schema's `code`.
fn problem_codes(document: &Value) -> BTreeSet<String> {
    let codes = document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .expect("the Problem schema lists its codes in an enum");
    codes.iter().map(|code| code.as_str().expect("codes are strings").to_owned()).collect()
}

fn differences<T: Ord + Clone>(one: &BTreeSet<T>, other: &BTreeSet<T>) -> Vec<T> {
    one.difference(other).cloned().collect()
}

#[actix_web::test]
async fn every_operation_has_its_section_and_every_section_is_an_operation() {
    let (_app, document) = served_document().await;
    let text = reference();
    let documented = operations(&document);
    let headings = endpoint_headings(&text);
    let described: BTreeSet<Endpoint> = headings.iter().cloned().collect();
    assert_eq!(described.len(), headings.len(), "{REFERENCE}: an endpoint has two sections: {headings:?}");

    let undescribed = differences(&documented, &described);
    assert!(undescribed.is_empty(), "operations of /openapi.json without a section in {REFERENCE}: {undescribed:?}");
    let unknown = differences(&described, &documented);
    assert!(unknown.is_empty(), "sections of {REFERENCE} that are no operation of /openapi.json: {unknown:?}");
    assert!(described.len() >= 11, "{described:?}");

    // The routes that serve the documentation itself are not operations of
    // the document, but the reference still names them.
    for (method, path) in api::SERVED {
        let endpoint = (method.to_ascii_uppercase(), (*path).to_owned());
        if !documented.contains(&endpoint) {
            let mention = format!("`{} {}`", endpoint.0, endpoint.1);
            assert!(text.contains(&mention), "{REFERENCE} does not mention the served route {mention}");
        }
    }
}

#[actix_web::test]
async fn the_error_table_lists_exactly_the_problem_codes_of_the_document() {
    let (_app, document) = served_document().await;
    let rows = problem_table(&reference());
    let listed: BTreeSet<String> = rows.iter().map(|(_, code)| code.clone()).collect();
    assert_eq!(listed.len(), rows.len(), "{REFERENCE}: a code has two rows: {rows:?}");
    let named = problem_codes(&document);

    let unlisted = differences(&named, &listed);
    assert!(unlisted.is_empty(), "codes of /openapi.json missing from {REFERENCE}'s error table: {unlisted:?}");
    let unknown = differences(&listed, &named);
    assert!(unknown.is_empty(), "codes in {REFERENCE}'s error table that /openapi.json does not name: {unknown:?}");

    // Each problem response of the document says which codes it carries; the
    // table must give each of them that status.
    let responses = document["components"]["responses"].as_object().expect("the document has shared responses");
    let mut checked = 0;
    for (name, response) in responses {
        let Some(status) = name.strip_prefix("Problem") else { continue };
        let description = response["description"].as_str().unwrap_or_default();
        let codes = description.split('`').skip(1).step_by(2).filter(|word| named.contains(*word));
        for code in codes {
            let row = (status.to_owned(), code.to_owned());
            assert!(rows.contains(&row), "/openapi.json answers {status} with `{code}`; {REFERENCE}'s table does not");
            checked += 1;
        }
    }
    assert!(checked >= 13, "only {checked} (status, code) pairs found in the document's problem responses");
}

/// Every file the repository tracks; where there is no Git checkout (the
/// test image is built without `.git`), every file under the root except
/// build output and installed packages.
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git").arg("-C").arg(root).args(["ls-files", "-z"]).output();
    if let Ok(output) = listed
        && output.status.success()
    {
        return output
            .stdout
            .split(|byte| *byte == 0)
            .filter(|name| !name.is_empty())
            .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
            .collect();
    }
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().map(Result::unwrap) {
            let name = entry.file_name();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.to_str(), Some("target" | "node_modules" | ".git")) {
                    folders.push(entry.path());
                }
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

/// `path` resolved against `from` without touching the file system; `None`
/// if it climbs above `from`'s root.
fn resolve(from: &Path, path: &str) -> Option<PathBuf> {
    let mut resolved = from.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => {
                if !resolved.pop() {
                    return None;
                }
            }
            Component::Normal(part) => resolved.push(part),
            Component::RootDir | Component::Prefix(_) => return None,
            Component::CurDir => {}
        }
    }
    Some(resolved)
}

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    let root = harness::workspace_root();
    // Spelled in pieces so that this file does not match itself.
    let needles = [["..", "/shared"].concat(), ["/", "work", "/"].concat()];
    let files = tracked_files(&root);
    assert!(files.iter().any(|file| file.ends_with(REFERENCE)), "{REFERENCE} is not in the repository");
    let mut offences = Vec::new();
    for file in &files {
        // A tracked file deleted in the working tree refers to nothing.
        let Ok(bytes) = std::fs::read(file) else { continue };
        let name = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        for needle in &needles {
            if bytes.windows(needle.len()).any(|window| window == needle.as_bytes()) {
                offences.push(format!("{name} contains {needle:?}"));
            }
        }
        if file.extension().is_some_and(|extension| extension == "md") {
            let text = String::from_utf8_lossy(&bytes);
            let folder = file.parent().unwrap().strip_prefix(&root).unwrap_or(Path::new(""));
            for target in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
                let target = target.split('#').next().unwrap_or_default().trim();
                if target.is_empty() || target.contains(':') {
                    continue;
                }
                if resolve(folder, target).is_none() {
                    offences.push(format!("{name} links to {target}, outside the repository"));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
