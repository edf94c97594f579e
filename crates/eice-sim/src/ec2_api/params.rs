//! The EC2 Query protocol's request parameters: a form-encoded body
//! (`Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-…`) whose lists are
//! spelt as numbered keys.
//!
//! Parameters are checked against the action's vocabulary, as EC2 does, so a
//! misspelt parameter from the proxy fails a test instead of being ignored.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// The parameters of one call: the query string's and the body's, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Joins the (already decoded) query parameters and the form-encoded body.
    pub(super) fn new(query: Vec<(String, String)>, body: &[u8]) -> Result<Params, ApiError> {
        let body = std::str::from_utf8(body)
            .map_err(|_| ApiError::MalformedQueryString("The request body is not UTF-8.".into()))?;
        let mut pairs = query;
        pairs.extend(decode_form(body)?);
        Ok(Params { pairs })
    }

    /// The first value of a parameter.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Refuses any parameter whose first dotted segment is not in `allowed` (the
    /// protocol's `Action` and `Version` are always allowed).
    pub(super) fn check_known(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let known = |base: &str| matches!(base, "Action" | "Version") || allowed.contains(&base);
        match self
            .pairs
            .iter()
            .find(|(key, _)| !known(key.split('.').next().unwrap_or_default()))
        {
            Some((key, _)) => Err(ApiError::UnknownParameter(key.clone())),
            None => Ok(()),
        }
    }

    /// A list parameter, `{name}.1`, `{name}.2`…, in index order.
    pub(super) fn list(&self, name: &str) -> Vec<String> {
        let mut items = BTreeMap::new();
        for (key, value) in &self.pairs {
            if let Some(index) = key
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|index| index.parse::<u32>().ok())
            {
                items.insert(index, value.clone());
            }
        }
        items.into_values().collect()
    }

    /// Every parameter whose key starts with `prefix`, with the prefix removed.
    pub(super) fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.pairs.iter().filter_map(move |(key, value)| {
            key.strip_prefix(prefix).map(|rest| (rest, value.as_str()))
        })
    }

    /// `DryRun`, which EC2 answers with `DryRunOperation` when the call would work.
    pub(super) fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("DryRun") {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::InvalidParameterValue(format!(
                "Invalid value '{other}' for DryRun; expected true or false"
            ))),
        }
    }
}

/// Decodes `application/x-www-form-urlencoded`: `&`-separated `key=value` pairs,
/// `+` for a space, `%XX` escapes.
pub(super) fn decode_form(body: &str) -> Result<Vec<(String, String)>, ApiError> {
    body.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode_component(key)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(text: &str) -> Result<String, ApiError> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| {
            ApiError::MalformedQueryString(format!("'{text}' is not valid percent-encoded UTF-8."))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        Params::new(Vec::new(), body.as_bytes()).unwrap()
    }

    #[test]
    fn form_bodies_decode_plus_and_percent() {
        let p = params("Action=DescribeInstances&Filter.1.Value.1=web%2A+x&Empty");
        assert_eq!(p.get("Action"), Some("DescribeInstances"));
        assert_eq!(p.get("Filter.1.Value.1"), Some("web* x"));
        assert_eq!(p.get("Empty"), Some(""));
        assert!(Params::new(Vec::new(), b"A=%FF").is_err());
    }

    #[test]
    fn lists_come_back_in_index_order() {
        let p = params("InstanceId.2=b&InstanceId.10=c&InstanceId.1=a&InstanceIdX=z");
        assert_eq!(p.list("InstanceId"), ["a", "b", "c"]);
    }

    #[test]
    fn unknown_parameters_are_refused_by_name() {
        let p = params("Action=DescribeVpcs&Version=2016-11-15&VpcIds.1=vpc-1");
        let err = p.check_known(&["VpcId", "Filter"]).unwrap_err();
        assert_eq!(err.to_string(), "The parameter VpcIds.1 is not recognized");
        params("Action=X&VpcId.1=vpc-1")
            .check_known(&["VpcId"])
            .unwrap();
    }
}
