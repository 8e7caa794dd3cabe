//! One way down through the modules: each top-level module of `src/` uses only modules
//! below it, read from its `crate::…` paths. A module that reaches up (and so makes a
//! cycle), or a new top-level module not yet placed, fails here with the file and line.
//! `docs/architecture.md` draws the same layers. Below them all is the `rateline-domain`
//! crate, which the application and the adapters both use; cargo keeps crates acyclic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use the modules of lower layers only; modules of
/// one layer do not use each other.
const LAYERS: &[&[&str]] = &[
    &["clock"],
    &["metrics", "store"],
    &["settings", "report"],
    &["telemetry", "alerts", "events", "policy"],
    &["engine"],
    &["scheduler", "channels"],
    &["http"],
    &["dashboard"],
    &["startup"],
    &["demo"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level modules a line of code names as `crate::<module>`, or inside a
/// `use crate::{…}` list that starts on this line. Comments are skipped: a doc may point
/// anywhere.
fn used_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut used = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = list.split('}').next().unwrap_or("");
            for item in list.split(',') {
                let name = item.trim().split("::").next().unwrap_or("");
                if item.contains("::") {
                    used.push(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
    }
    used
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut modules = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let first = relative.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            wrong.push(format!(
                "src/{module} is a new top-level module: place it in a layer in tests/it/architecture.rs and docs/architecture.md"
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file reads");
        let mut lines = text.lines().enumerate().peekable();
        while let Some((n, line)) = lines.next() {
            // A `use crate::{` list may span lines: read it as one.
            let mut statement = line.to_owned();
            if line.contains("crate::{") && !line.contains('}') {
                for (_, more) in lines.by_ref() {
                    statement.push_str(more.split("//").next().unwrap_or(""));
                    if more.contains('}') {
                        break;
                    }
                }
            }
            for used in used_modules(&statement) {
                if used == module {
                    continue;
                }
                *modules.entry((module.clone(), used.clone())).or_insert(0) += 1;
                match layer_of(&used) {
                    Some(theirs) if theirs < own => {}
                    Some(_) => wrong.push(format!(
                        "{}:{}: {module} uses {used}, which is not below it",
                        relative.display(),
                        n + 1
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        modules.len() > 20,
        "the check read too few uses to be reading the code: {modules:?}"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn uses_are_read_from_paths_lists_and_not_comments() {
    assert_eq!(used_modules("use crate::store::Store;"), ["store"]);
    assert_eq!(
        used_modules("use crate::{engine::Engine, store::{Store, StoreError}};"),
        ["engine", "store"]
    );
    assert_eq!(
        used_modules("let x = crate::http::ApiError::new(); // crate::cli"),
        ["http"]
    );
    assert!(used_modules("//! see crate::startup").is_empty());
}

/// Inside the dashboard, the same rule: each module uses only the modules below it, so the
/// pages, the forms they share, the visit and the markup stand on one another without a
/// cycle. A page lives in `pages/` (a file each) and names the modules beside it as
/// `super::<page>` and the dashboard's as `crate::dashboard::<module>`; the dashboard's own
/// files name a page as `super::pages::<page>`. Each `mod.rs` stands above them all: the
/// router, and the list of pages.
const DASHBOARD_LAYERS: &[&[&str]] = &[
    &["charts", "sign_in", "viewer"],
    &["words"],
    &["quality"],
    &["layout"],
    &["login", "report", "session", "operator"],
    &["visit"],
    &["form", "actions", "account", "appeals", "audit", "inbox"],
    &[
        "lines",
        "people",
        "groups",
        "keys",
        "subscriptions",
        "helpdesks",
    ],
];

/// The store's rooms, bottom first: the error and the SQL helpers, the writer and the small
/// parts, the store itself (`base`: its pools and connection), the table families that
/// stand on it alone, and the writes that reach across families (a close, an answer).
const STORE_LAYERS: &[&[&str]] = &[
    &["error", "sql"],
    &["writer", "gate", "rows", "filter"],
    &["base"],
    &[
        "audit",
        "breakdown",
        "erasure",
        "helpdesk",
        "helpdesks",
        "keys",
        "lines",
        "notify",
        "passwords",
        "sign_ins",
        "retention",
        "rollup",
        "inbox",
        "outbox",
    ],
    &["report", "export", "jobs"],
    &["digests"],
    &["people", "alerts"],
    &["events", "ratings", "requests", "followup"],
    &["webchat", "sessions"],
];

/// The engine's rooms: its errors and the ids it reads, the engine itself (`base`), then
/// its operations, the audit trail first since most of them write to it.
const ENGINE_LAYERS: &[&[&str]] = &[
    &["error", "signals", "wake"],
    &["ids"],
    &["base"],
    &["audit", "lookups", "sessions", "ratings", "reach"],
    &["passwords", "followup", "keys", "subscriptions"],
    &["config", "inbox", "probes"],
    &["helpdesks"],
];

/// The API's rooms: errors and the description's shared parts, the limits and extractors,
/// the state every handler shares, the handlers, and the router over them all.
const HTTP_LAYERS: &[&[&str]] = &[
    &["error", "openapi", "export"],
    &["serve", "open_mode"],
    &["limits"],
    &["extract"],
    &["versions", "state"],
    &["auth"],
    &[
        "report",
        "sessions",
        "clients",
        "keys",
        "lines",
        "ops",
        "platforms",
        "subscriptions",
        "helpdesks",
    ],
    &["audit", "followup", "people", "ratings", "webchat"],
    &["router"],
];

/// The modules of its folder a file names: after `super::` (one item, or each item of a
/// `super::{…}` list) and after `crate::<folder>::`, with `super::pages::` read as the page
/// it names. Comments are left out before this is asked.
fn inner_uses(code: &str, folder: &str) -> Vec<String> {
    let code = code
        .replace(&format!("crate::{folder}::pages::"), "super::")
        .replace("super::pages::", "super::")
        .replace(&format!("crate::{folder}::"), "super::");
    let name = |text: &str| -> String {
        text.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut used = Vec::new();
    for after in code.split("super::").skip(1) {
        match after.strip_prefix('{') {
            Some(list) => {
                // The list's top-level items: `a::X`, `{b, c}` inside an item is its own.
                let mut depth = 0;
                let mut item = String::new();
                for c in list.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            used.push(name(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                used.push(name(&item));
            }
            None => used.push(name(after)),
        }
    }
    // `super::*` in a test module is the file itself.
    used.retain(|used| !used.is_empty());
    used
}

/// Each file of `src/<folder>` (and of `src/<folder>/pages`) uses only the modules of its
/// folder in lower layers; `mod.rs` stands above them all. Test modules may reach anywhere.
fn check_inner_layers(folder: &str, layers: &[&[&str]]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let layer = |m: &str| layers.iter().position(|l| l.contains(&m));
    let mut wrong = Vec::new();
    let mut read = 0;
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in [root.clone(), root.join("pages")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        paths.extend(entries.map(|e| e.expect("a directory entry").path()));
    }
    for path in paths {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let shown = path.strip_prefix(&root).unwrap().display().to_string();
        if module == "mod" {
            continue;
        }
        let Some(own) = layer(&module) else {
            wrong.push(format!(
                "src/{folder}/{shown} is not placed: add it to the folder's layers"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("a source file reads");
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        // Comments out, line breaks kept: a use list may run over several lines.
        let code: Vec<&str> = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect();
        for (n, line) in code.iter().enumerate() {
            if !line.contains("super::") && !line.contains(&format!("crate::{folder}::")) {
                continue;
            }
            // A use statement runs to its `;`; any other line is read alone.
            let statement = if line.trim_start().starts_with("use ") {
                let end = code[n..]
                    .iter()
                    .position(|l| l.contains(';'))
                    .map_or(code.len(), |i| n + i + 1);
                let statement = code[n..end].join("\n");
                statement.split(';').next().unwrap_or("").to_owned()
            } else {
                line.to_string()
            };
            for used in inner_uses(&statement, folder) {
                read += 1;
                match layer(&used) {
                    Some(theirs) if theirs < own => {}
                    _ => wrong.push(format!(
                        "src/{folder}/{shown}:{}: uses {used}, which is not below it",
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        read > 20,
        "the check read too few uses in src/{folder} to be reading the code"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn inner_uses_are_read_from_each_way_of_naming_a_module() {
    let dashboard = |code| inner_uses(code, "dashboard");
    assert_eq!(dashboard("use super::quality::View;"), ["quality"]);
    assert_eq!(
        dashboard("use crate::dashboard::layout::{self, page};"),
        ["layout"]
    );
    assert_eq!(dashboard("use super::pages::login::Tried;"), ["login"]);
    assert!(dashboard("use super::*;").is_empty());
    assert_eq!(
        inner_uses("use super::{alerts::{self, AlertPlan},\n outbox};", "store"),
        ["alerts", "outbox"]
    );
    assert_eq!(
        inner_uses(
            "let r = super::rows::read(row) + crate::store::sql::ms(t);",
            "store"
        ),
        ["rows", "sql"]
    );
}

#[test]
fn dashboard_modules_use_only_the_ones_below_them() {
    check_inner_layers("dashboard", DASHBOARD_LAYERS);
}

#[test]
fn store_modules_use_only_the_ones_below_them() {
    check_inner_layers("store", STORE_LAYERS);
}

#[test]
fn engine_modules_use_only_the_ones_below_them() {
    check_inner_layers("engine", ENGINE_LAYERS);
}

#[test]
fn http_modules_use_only_the_ones_below_them() {
    check_inner_layers("http", HTTP_LAYERS);
}

/// A folder's `mod.rs` is its face only: it declares the folder's modules and re-exports
/// what the rest of the crate uses, and holds no code of its own, so that no room inside
/// has to reach up to it.
#[test]
fn a_folders_mod_rs_only_declares_and_re_exports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let folders = [
        "store",
        "engine",
        "http",
        "channels/helpdesk",
        "channels/telegram",
        "channels/meta",
        "channels/chatwoot",
        "channels/zammad",
    ];
    for folder in folders {
        let text = std::fs::read_to_string(src.join(folder).join("mod.rs"))
            .expect("a folder's mod.rs reads");
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        for statement in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let declares = ["mod ", "pub mod ", "pub use ", "pub(crate) use "]
                .iter()
                .any(|start| statement.starts_with(start));
            if !declares {
                let shown: String = statement.chars().take(60).collect();
                wrong.push(format!(
                    "src/{folder}/mod.rs holds `{shown}`: move it to a room"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The most lines a production function has without saying why it is one piece.
const LONG_FUNCTION: usize = 100;

/// The name of the function a line of code declares, after any visibility (`pub`,
/// `pub(…)`) and `async`, `const` or `unsafe`; `None` when it declares none.
fn declared_fn(code: &str) -> Option<String> {
    let (before, after) = code.split_once("fn ")?;
    let before = match before.strip_prefix("pub(") {
        Some(rest) => rest.split_once(')')?.1,
        None => before.strip_prefix("pub ").unwrap_or(before),
    };
    if !before
        .split_whitespace()
        .all(|w| matches!(w, "async" | "const" | "unsafe"))
    {
        return None;
    }
    let name: String = after
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// How many production functions there are, and each of more than [`LONG_FUNCTION`] lines
/// (its signature to its closing brace) as `path:line name (lines)`, with whether its doc
/// says why it is one piece (`One piece:`). Test modules (from `#[cfg(test)]` on) are left
/// out.
fn long_functions(root: &Path) -> (usize, Vec<(String, bool)>) {
    let mut files = Vec::new();
    for dir in ["src", "domain/src", "adapters/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let (mut read, mut long) = (0, Vec::new());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a source file reads");
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect();
        let mut n = 0;
        while n < lines.len() {
            let line = lines[n];
            let code = line.trim_start();
            let indent = &line[..line.len() - code.len()];
            let Some(name) = declared_fn(code) else {
                n += 1;
                continue;
            };
            // The signature ends at its body's `{`; a declaration in a trait ends at its `;`,
            // and a function on one line at its `}`: neither has a body to measure.
            let Some(open) = (n..lines.len()).find(|&k| {
                let l = lines[k].trim_end();
                l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
            }) else {
                break;
            };
            if !lines[open].trim_end().ends_with('{') {
                n = open + 1;
                continue;
            }
            let close = format!("{indent}}}");
            let Some(end) = (open..lines.len()).find(|&k| lines[k] == close) else {
                n += 1;
                continue;
            };
            read += 1;
            if end - n + 1 > LONG_FUNCTION {
                let says_why = lines[..n]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        let l = l.trim_start();
                        l.starts_with("///") || l.starts_with("#[")
                    })
                    .any(|l| l.contains("One piece:"));
                let shown = path.strip_prefix(root).unwrap_or(&path).display();
                long.push((
                    format!("{shown}:{} {name} ({} lines)", n + 1, end - n + 1),
                    says_why,
                ));
            }
            n = end + 1;
        }
    }
    (read, long)
}

/// A production function over [`LONG_FUNCTION`] lines says, in its doc, why it is one
/// piece (`/// One piece: …`): a long function is where a newcomer gets lost, and the few
/// that stay long are those that a split would make harder to follow (one transaction's
/// steps, one page's markup read top to bottom).
#[test]
fn functions_are_found_whatever_their_visibility() {
    assert_eq!(declared_fn("pub fn page(").as_deref(), Some("page"));
    assert_eq!(
        declared_fn("pub(in crate::dashboard) async fn act(").as_deref(),
        Some("act")
    );
    assert_eq!(
        declared_fn("const fn ms(t: i64) -> i64 {").as_deref(),
        Some("ms")
    );
    assert_eq!(declared_fn("let f = |x| x; // fn not here"), None);
    assert_eq!(declared_fn("pubfn x()"), None);
}

#[test]
fn a_long_function_says_why_it_is_one_piece() {
    let (read, long) = long_functions(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        read > 1000,
        "the check read {read} functions: is it reading the code?"
    );
    let silent: Vec<&str> = long
        .iter()
        .filter(|(_, says_why)| !says_why)
        .map(|(f, _)| f.as_str())
        .collect();
    assert!(
        silent.is_empty(),
        "functions over {LONG_FUNCTION} lines with no `/// One piece: …` saying why; split \
         them or say why:\n{}",
        silent.join("\n")
    );
}
