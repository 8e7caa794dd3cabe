//! The model of Zammad's trigger rules the fake Zammad and the docs' test use, checked
//! against what Zammad's source says (`lib/selector/sql.rb`, `app/models/trigger.rb`).

use serde_json::{Value, json};

use rateline_testkit::zammad_rules::{Change, check_condition, fires};

fn change<'a>(action: &'a str, article: Option<&'a Value>, changes: &'a [&'a str]) -> Change<'a> {
    static TICKET: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| json!({"state_id": 4, "group_id": 1}));
    Change {
        action,
        ticket: &TICKET,
        article,
        changes,
    }
}

#[test]
fn an_action_is_one_value_so_a_list_never_fires() {
    let list = json!({"activator": "action", "execution_condition_mode": "always",
        "condition": {"ticket.action": {"operator": "is", "value": ["create", "update"]}}});
    assert!(
        check_condition(&list["condition"]).is_ok(),
        "Zammad takes it"
    );
    for action in ["create", "update"] {
        assert!(!fires(&list, &change(action, None, &["state_id"])));
    }
    let one = json!({"execution_condition_mode": "always",
        "condition": {"ticket.action": {"operator": "is", "value": "update"}}});
    assert!(fires(&one, &change("update", None, &["state_id"])));
    assert!(!fires(&one, &change("create", None, &[])));
}

#[test]
fn selective_fires_an_update_only_on_a_named_change_or_an_article() {
    let t = json!({"condition": {"ticket.action": {"operator": "is", "value": "update"}}});
    let article = json!({"type_id": 1});
    assert!(
        !fires(&t, &change("update", None, &["state_id"])),
        "a close alone"
    );
    assert!(fires(&t, &change("update", Some(&article), &[])));
    let named = json!({"condition": {"ticket.state_id": {"operator": "is", "value": ["4"]}}});
    assert!(fires(&named, &change("update", None, &["state_id"])));
    assert!(!fires(&named, &change("update", None, &["owner_id"])));
}

#[test]
fn an_article_condition_is_false_without_an_article_and_time_triggers_never_fire() {
    let t = json!({"execution_condition_mode": "always", "condition": {
        "article.type_id": {"operator": "is", "value": ["1"]}}});
    assert!(!fires(&t, &change("update", None, &["state_id"])));
    assert!(fires(
        &t,
        &change("update", Some(&json!({"type_id": 1})), &[])
    ));
    let time = json!({"activator": "time", "execution_condition_mode": "always",
        "condition": {"ticket.state_id": {"operator": "is", "value": ["4"]}}});
    assert!(!fires(&time, &change("update", None, &["state_id"])));
}

#[test]
fn unknown_operators_and_empty_lists_are_refused() {
    assert!(
        check_condition(&json!({"ticket.action": {"operator": "equals", "value": "x"}})).is_err()
    );
    assert!(check_condition(&json!({"ticket.state_id": {"operator": "is", "value": []}})).is_err());
    let expert = json!({"operator": "OR", "conditions": [
        {"name": "ticket.action", "operator": "is", "value": "create"},
        {"name": "ticket.action", "operator": "is", "value": "update"}]});
    assert!(check_condition(&expert).is_ok());
    let t = json!({"execution_condition_mode": "always", "condition": expert});
    assert!(fires(&t, &change("create", None, &[])));
    assert!(fires(&t, &change("update", None, &["state_id"])));
}
