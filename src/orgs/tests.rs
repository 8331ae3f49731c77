use super::events::Action;
use super::teams::normalize_name;
use crate::owners::Role;

#[test]
fn team_names_are_2_to_30_lowercase_letters_digits_and_dot_dash_underscore() {
    assert_eq!(normalize_name(" Backend ").unwrap(), "backend");
    for ok in ["qa", "ci-bots", "team_1", "v2.0"] {
        assert!(normalize_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a", &"a".repeat(31), "-ops", "two words", "émigrés", "nul\0"] {
        assert!(normalize_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_audit_action_has_its_own_identifier_and_reads_back() {
    let mut seen = std::collections::HashSet::new();
    for action in Action::ALL {
        assert!(seen.insert(action.as_str()), "{} twice", action.as_str());
        assert_eq!(Action::parse(action.as_str()), Some(action));
        assert!(!action.description().is_empty());
    }
    assert_eq!(Action::parse("team.create"), Some(Action::TeamCreated));
    assert_eq!(Action::parse("nonsense"), None);
}

#[test]
fn roles_read_as_typed_and_answer_as_docker_hub_does() {
    assert_eq!(" Editor ".parse::<Role>().unwrap(), Role::Editor);
    assert!("boss".parse::<Role>().is_err());
    assert_eq!(Role::ALL.map(Role::title), ["Owner", "Editor", "Member"]);
    assert!(Role::Owner.manages_repositories() && Role::Editor.manages_repositories() && !Role::Member.manages_repositories());
}
