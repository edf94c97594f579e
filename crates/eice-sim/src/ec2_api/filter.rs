//! EC2's `Filter.N.Name` / `Filter.N.Value.M` filters.
//!
//! The semantics are EC2's: filters are ANDed, the values of one filter ORed, and a
//! value may use `*` (any run of characters) and `?` (one character), with `\`
//! escaping either. Filter names are checked against the action's list, as EC2
//! does, so a misspelt filter from the proxy is an error rather than a silent
//! "no match".

use std::collections::BTreeMap;

use super::error::ApiError;
use super::params::Params;

/// One filter of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    /// E.g. `vpc-id` or `tag:Name`.
    pub(super) name: String,
    /// The patterns, any of which may match.
    pub(super) values: Vec<String>,
}

/// Which filters an action understands.
#[derive(Debug, Clone, Copy)]
pub(super) struct FilterNames {
    /// The exact names.
    pub(super) names: &'static [&'static str],
    /// Whether `tag:<key>` and `tag-key` are understood too.
    pub(super) tags: bool,
}

impl FilterNames {
    fn allows(&self, name: &str) -> bool {
        self.names.contains(&name) || (self.tags && (name == "tag-key" || name.starts_with("tag:")))
    }
}

/// Reads and checks the request's filters.
pub(super) fn parse(params: &Params, allowed: FilterNames) -> Result<Vec<Filter>, ApiError> {
    let mut by_index: BTreeMap<u32, (Option<String>, BTreeMap<u32, String>)> = BTreeMap::new();
    for (rest, value) in params.with_prefix("Filter.") {
        let bad = || ApiError::UnknownParameter(format!("Filter.{rest}"));
        let (index, field) = rest.split_once('.').ok_or_else(bad)?;
        let index: u32 = index.parse().map_err(|_| bad())?;
        let entry = by_index.entry(index).or_default();
        match field.split_once('.') {
            None if field == "Name" => entry.0 = Some(value.to_owned()),
            Some(("Value", n)) => {
                let n: u32 = n.parse().map_err(|_| bad())?;
                entry.1.insert(n, value.to_owned());
            }
            _ => return Err(bad()),
        }
    }
    by_index
        .into_iter()
        .map(|(index, (name, values))| checked(index, name, values, allowed))
        .collect()
}

fn checked(
    index: u32,
    name: Option<String>,
    values: BTreeMap<u32, String>,
    allowed: FilterNames,
) -> Result<Filter, ApiError> {
    let name = name.ok_or_else(|| ApiError::MissingParameter(format!("Filter.{index}.Name")))?;
    if !allowed.allows(&name) {
        return Err(ApiError::InvalidParameterValue(format!(
            "The filter '{name}' is invalid"
        )));
    }
    if values.is_empty() {
        return Err(ApiError::InvalidParameterValue(format!(
            "The filter '{name}' needs at least one value (Filter.{index}.Value.1)"
        )));
    }
    Ok(Filter {
        name,
        values: values.into_values().collect(),
    })
}

/// Whether an item passes every filter, given the item's values for a filter name
/// (an empty list for a field the item lacks, which then matches nothing).
pub(super) fn all_match(filters: &[Filter], values_of: impl Fn(&str) -> Vec<String>) -> bool {
    filters.iter().all(|filter| {
        let values = values_of(&filter.name);
        values
            .iter()
            .any(|value| filter.values.iter().any(|pattern| glob(pattern, value)))
    })
}

/// The values of `tag:<key>` and `tag-key` filters for an item with these tags.
pub(super) fn tag_values<'a>(
    filter: &str,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    if filter == "tag-key" {
        return tags.map(|(key, _)| key.to_owned()).collect();
    }
    match filter.strip_prefix("tag:") {
        Some(wanted) => tags
            .filter(|(key, _)| *key == wanted)
            .map(|(_, value)| value.to_owned())
            .collect(),
        None => Vec::new(),
    }
}

/// EC2's wildcard match: `*` any run, `?` one character, `\` escapes the next.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob_from(&pattern, &text)
}

fn glob_from(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| glob_from(rest, &text[skip..])),
        Some(('?', rest)) => !text.is_empty() && glob_from(rest, &text[1..]),
        Some(('\\', rest)) if !rest.is_empty() => literal(rest[0], &rest[1..], text),
        Some((c, rest)) => literal(*c, rest, text),
    }
}

fn literal(c: char, rest: &[char], text: &[char]) -> bool {
    text.first() == Some(&c) && glob_from(rest, &text[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: FilterNames = FilterNames {
        names: &["vpc-id", "state"],
        tags: true,
    };

    fn filters(body: &str) -> Result<Vec<Filter>, ApiError> {
        parse(&Params::new(Vec::new(), body.as_bytes()).unwrap(), NAMES)
    }

    #[test]
    fn wildcards_behave_like_ec2() {
        assert!(glob("web-1", "web-1"));
        assert!(!glob("web", "web-1"));
        assert!(glob("web*", "web-1"));
        assert!(glob("*dup", "web-dup"));
        assert!(glob("w?b-*", "web-dup"));
        assert!(!glob("w?b", "wb"));
        assert!(glob(r"a\*", "a*"));
        assert!(!glob(r"a\*", "ab"));
        assert!(glob("*", ""));
    }

    #[test]
    fn filters_parse_in_order_with_all_values() {
        let parsed = filters(
            "Filter.2.Name=state&Filter.2.Value.2=b&Filter.2.Value.1=a&Filter.1.Name=tag%3AName&Filter.1.Value.1=web%2A",
        )
        .unwrap();
        assert_eq!(parsed[0].name, "tag:Name");
        assert_eq!(parsed[1].values, ["a", "b"]);
    }

    #[test]
    fn bad_filters_are_refused() {
        let err = filters("Filter.1.Name=vpc&Filter.1.Value.1=x").unwrap_err();
        assert_eq!(err.to_string(), "The filter 'vpc' is invalid");
        assert!(filters("Filter.1.Value.1=x").is_err());
        assert!(filters("Filter.1.Name=state").is_err());
        assert!(filters("Filter.1.Nam=state").is_err());
    }

    #[test]
    fn filters_are_anded_and_values_ored() {
        let parsed = filters(
            "Filter.1.Name=state&Filter.1.Value.1=a&Filter.1.Value.2=b&Filter.2.Name=tag-key&Filter.2.Value.1=env",
        )
        .unwrap();
        let tags = [("env", "demo")];
        let item = |state: &'static str| {
            move |name: &str| match name {
                "state" => vec![state.to_owned()],
                other => tag_values(other, tags.iter().copied()),
            }
        };
        assert!(all_match(&parsed, item("b")));
        assert!(!all_match(&parsed, item("c")));
        assert!(all_match(&[], item("c")));
    }
}
