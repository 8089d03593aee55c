//! `{name}` placeholders in the config's templates (`summary_template`, `channel_template`),
//! filled in one pass over the template text: a value is copied out and never scanned again,
//! so an agent named `web-{id}` stays `web-{id}` (issue #11 item 3).

/// Fills every `{name}` for which `value` answers; other braces are copied as written.
pub fn render<'v>(template: &str, value: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match placeholder_at(after).and_then(|name| value(name).map(|v| (name, v))) {
            Some((name, v)) => {
                out.push_str(v);
                rest = &after[name.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names used in `template` that are not in `known`, in order, once each.
pub fn unknown_placeholders<'t>(template: &'t str, known: &[&str]) -> Vec<&'t str> {
    let mut unknown: Vec<&str> = Vec::new();
    for (i, _) in template.match_indices('{') {
        if let Some(name) = placeholder_at(&template[i..]) {
            if !known.contains(&name) && !unknown.contains(&name) {
                unknown.push(name);
            }
        }
    }
    unknown
}

/// The name of a `{name}` at the start of `text` (ASCII letters, digits and `_`).
fn placeholder_at(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(name: &str) -> Option<&'static str> {
        match name {
            "agent" => Some("web-{id}"),
            "id" => Some("42"),
            "module" => Some("{agent}"),
            _ => None,
        }
    }

    #[test]
    fn values_are_never_rescanned() {
        assert_eq!(
            render("{agent} / {module} #{id}", vals),
            "web-{id} / {agent} #42"
        );
    }

    #[test]
    fn unknown_and_broken_placeholders_are_kept_as_written() {
        assert_eq!(render("{nope} {id", vals), "{nope} {id");
        assert_eq!(render("{{id}} {} é{id}é", vals), "{42} {} é42é");
    }

    #[test]
    fn unknown_placeholders_are_listed_once() {
        assert_eq!(
            unknown_placeholders("{agnet} {id} {agnet} {x y} {sev}", &["id"]),
            ["agnet", "sev"]
        );
    }
}
