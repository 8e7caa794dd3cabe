//! The docs hold together: every link between pages (and to a heading) leads somewhere,
//! every setting the code reads is on the configuration page, and the table of error codes
//! in `docs/api.md` is the one the code answers with. Run with `RATELINE_WRITE_DOCS=1` to
//! rewrite that table from the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rateline_domain::ErrorCode;
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page under docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut paths = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a page reads");
            (p, text)
        })
        .collect()
}

/// The targets of a page's Markdown links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Inline code may hold brackets that are not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// A heading's anchor as GitHub makes it: lowercase, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_link_between_pages_leads_to_a_page_and_heading() {
    let pages = pages();
    assert!(pages.len() >= 10, "docs/ should hold a page per topic");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (page, text) in &pages {
        for target in links(text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            checked += 1;
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a folder").join(file)
            };
            let where_ = format!(
                "{}: ({target})",
                page.strip_prefix(root()).unwrap().display()
            );
            if !dest.exists() {
                broken.push(format!("{where_}: no such file"));
                continue;
            }
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&dest).unwrap_or_default();
                if !anchors(&text).contains(fragment) {
                    broken.push(format!("{where_}: no heading #{fragment}"));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links read: is the reader broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_reader_finds_links_and_skips_code() {
    let text = "See [a](a.md#x) and `[not](b.md)`.\n```\n[no](c.md)\n```\n[b](https://e.example)";
    assert_eq!(links(text), ["a.md#x", "https://e.example"]);
    assert_eq!(anchor("The `telegram` channel"), "the-telegram-channel");
    assert_eq!(anchor("Alerts: who, when?"), "alerts-who-when");
}

#[test]
fn every_setting_is_on_the_configuration_page() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("| `")).collect();
    let keys = rateline::settings::every_key();
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| {
            let (section, field) = key.split_once('.').expect("section.field");
            // A row may name several fields of one section: `a.x` · `y`.
            !rows.iter().any(|row| {
                row.contains(&format!("`{key}`"))
                    || (row.contains(&format!("`{section}."))
                        && row.contains(&format!("`{field}`")))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "settings the code reads that docs/configuration.md does not name: {missing:?}"
    );
}

const CODES_START: &str =
    "<!-- error codes: generated from the code, checked by tests/it/docs.rs -->";
const CODES_END: &str = "<!-- end of error codes -->";

/// The table of error codes as the code has them.
fn codes_table() -> String {
    let mut table = String::from("| code | status | meaning |\n| --- | --- | --- |\n");
    for code in ErrorCode::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            rateline::http::documented_status(*code),
            code.meaning()
        ));
    }
    table
}

#[test]
fn the_docs_table_of_error_codes_is_the_codes() {
    let path = root().join("docs/api.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let start = page
        .find(CODES_START)
        .expect("docs/api.md marks its table of codes");
    let end = page.find(CODES_END).expect("and its end");
    let documented = &page[start + CODES_START.len()..end];
    let expected = codes_table();
    if documented.trim() != expected.trim() {
        if std::env::var_os("RATELINE_WRITE_DOCS").is_some() {
            let page = format!(
                "{}{CODES_START}\n{expected}{}",
                &page[..start],
                &page[end..]
            );
            std::fs::write(&path, page).unwrap();
        } else {
            panic!(
                "docs/api.md's table of error codes is not the code's (RATELINE_WRITE_DOCS=1 \
                 rewrites it); it should be:\n{expected}"
            );
        }
    }
}

/// The fenced blocks of `lang` on a page, each with the line it starts on.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) if info.trim() == lang => open = Some((n + 1, String::new())),
            (Some(_), Some(_)) => found.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    found
}

/// Every TOML snippet the docs show is a config file Rateline takes as written: it loads
/// through the settings loader, and its lines, people, groups and helpdesks pass
/// the checks `rateline check-config` makes of them.
#[test]
fn every_toml_snippet_in_the_docs_loads_as_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    let mut loaded = 0;
    for (page, text) in pages() {
        for (line, toml) in blocks(&text, "toml") {
            let at = format!("{}:{line}", page.strip_prefix(root()).unwrap().display());
            let file = dir.path().join(format!("snippet-{loaded}.toml"));
            std::fs::write(&file, &toml).unwrap();
            loaded += 1;
            let settings = match rateline::settings::Settings::load(Some(&file)) {
                Ok(s) => s,
                Err(e) => {
                    refused.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let mut problems: BTreeSet<String> = settings.problems().into_iter().collect();
            problems.extend(settings.configured_lines().err().unwrap_or_default());
            problems.extend(settings.configured_people().err().unwrap_or_default());
            problems.extend(settings.configured_helpdesks().err().unwrap_or_default());
            refused.extend(problems.into_iter().map(|p| format!("{at}: {p}")));
        }
    }
    assert!(
        loaded >= 7,
        "only {loaded} TOML snippets read: is the reader broken?"
    );
    assert!(
        refused.is_empty(),
        "snippets Rateline refuses:\n{}",
        refused.join("\n")
    );
}

/// Every JSON snippet the docs show is JSON (a `"field": …` excerpt of a larger body
/// counts when it is one). What it stands for is loaded as Rateline or the helpdesk would
/// load it: a line's settings through the settings type, and a Zammad trigger through the
/// model of Zammad's condition rules, where the page's triggers together must send the
/// webhook on a ticket created, on an article and on a close without one.
#[test]
fn every_json_snippet_in_the_docs_loads_as_what_it_stands_for() {
    use rateline_testkit::zammad_rules::{Change, check_condition, fires};
    let mut refused = Vec::new();
    let (mut loaded, mut triggers) = (0, 0);
    for (page, text) in pages() {
        let mut fired = (false, false, false);
        let mut page_triggers = 0;
        for (line, snippet) in blocks(&text, "json") {
            let at = format!("{}:{line}", page.strip_prefix(root()).unwrap().display());
            let value = match serde_json::from_str::<serde_json::Value>(&snippet)
                .or_else(|_| serde_json::from_str(&format!("{{{snippet}}}")))
            {
                Ok(v) => v,
                Err(e) => {
                    refused.push(format!("{at}: not JSON: {e}"));
                    continue;
                }
            };
            loaded += 1;
            if value.get("rating").is_some()
                && value.get("name").is_some()
                && let Err(e) =
                    serde_json::from_value::<rateline_domain::LineSettings>(value.clone())
            {
                refused.push(format!("{at}: not a line's settings: {e}"));
            }
            if value.get("mode").is_some() && value.get("digest_minutes").is_some() {
                match serde_json::from_value::<rateline_domain::AlertPace>(value.clone()) {
                    Ok(pace) => {
                        if let Err(e) = pace.validate() {
                            refused.push(format!("{at}: Rateline refuses the alert pace: {e}"));
                        }
                    }
                    Err(e) => refused.push(format!("{at}: not an alert pace: {e}")),
                }
            }
            if value.get("perform").is_some() {
                page_triggers += 1;
                triggers += 1;
                if let Err(e) = check_condition(&value["condition"]) {
                    refused.push(format!("{at}: Zammad refuses the trigger: {e}"));
                }
                if value
                    .pointer("/perform/notification.webhook/webhook_id")
                    .is_none()
                {
                    refused.push(format!("{at}: the trigger sends no webhook"));
                }
                let ticket = json!({"state_id": 4, "group_id": 1, "owner_id": 3});
                let article = json!({"type_id": 1, "sender_id": 2, "internal": false});
                fired.0 |= fires(
                    &value,
                    &Change {
                        action: "create",
                        ticket: &ticket,
                        article: Some(&article),
                        changes: &[],
                    },
                );
                fired.1 |= fires(
                    &value,
                    &Change {
                        action: "update",
                        ticket: &ticket,
                        article: Some(&article),
                        changes: &[],
                    },
                );
                fired.2 |= fires(
                    &value,
                    &Change {
                        action: "update",
                        ticket: &ticket,
                        article: None,
                        changes: &["state_id"],
                    },
                );
            }
        }
        if page_triggers > 0 && fired != (true, true, true) {
            refused.push(format!(
                "{}: its triggers send the webhook on (a ticket created, an article, a close) = \
                 {fired:?}, by Zammad's rules",
                page.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(
        loaded >= 6,
        "only {loaded} JSON snippets read: is the reader broken?"
    );
    assert!(triggers >= 2, "the Zammad guide's triggers were not read");
    assert!(
        refused.is_empty(),
        "snippets that do not load:\n{}",
        refused.join("\n")
    );
}
