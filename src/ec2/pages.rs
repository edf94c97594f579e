//! Whole-region listings, a page at a time, as the SDK paginators walk them.
//!
//! A filter-only `Describe*` call asks for pages (`MaxResults`: 1000, the
//! most EC2 gives; 50 for `DescribeInstanceConnectEndpoints`), so a large
//! account's answer comes in pieces that each fit the size cap and the
//! attempt's time limit, and a retry repeats one page, not the region.
//! `MaxResults` is never sent with `InstanceId.N` (EC2 refuses the pair).
//!
//! `NextToken` is followed until EC2 gives none or an empty one (the end, for
//! every SDK's paginator). A token that EC2 already gave is an error: a
//! service that hands a token back would keep a client paging for ever
//! (aws-sdk-rust stops there silently, botocore raises; a listing cut short
//! without a word could make a lookup answer "not found", so this says it).

use std::collections::HashSet;

use super::AwsError;
use super::query::Query;
use super::xml;

/// The largest page EC2 serves for most `Describe*` actions.
const PAGE: usize = 1000;

/// The largest page of `DescribeInstanceConnectEndpoints`.
const ENDPOINTS_PAGE: usize = 50;

/// The `MaxResults` of `action`'s pages.
fn page_size(action: &str) -> usize {
    match action {
        "DescribeInstanceConnectEndpoints" => ENDPOINTS_PAGE,
        _ => PAGE,
    }
}

/// `params` with `MaxResults` for `action`, unless they name instances by id.
fn paged(action: &str, mut params: Vec<(String, String)>) -> Vec<(String, String)> {
    if !params
        .iter()
        .any(|(name, _)| name.starts_with("InstanceId."))
    {
        params.push(("MaxResults".into(), page_size(action).to_string()));
    }
    params
}

impl Query {
    /// Every page of `action`: `each` sees each answer's root element, and
    /// `NextToken` is followed until EC2 gives none (or an empty one).
    pub(super) async fn pages(
        &self,
        action: &'static str,
        params: Vec<(String, String)>,
        mut each: impl FnMut(roxmltree::Node<'_, '_>),
    ) -> Result<(), AwsError> {
        let params = paged(action, params);
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_params = params.clone();
            if let Some(token) = &token {
                page_params.push(("NextToken".into(), token.clone()));
            }
            let text = self.call(action, &page_params).await?;
            let doc = xml::parse(&text).map_err(|message| self.bad_answer(action, message))?;
            let root = doc.root_element();
            each(root);
            let Some(next) = xml::text(root, "nextToken") else {
                return Ok(());
            };
            if !seen.insert(next.to_owned()) {
                return Err(self.bad_answer(
                    action,
                    format!(
                        "EC2 gave a NextToken it had already given, after {} pages: the \
                         listing would never end, so it was stopped",
                        seen.len() + 1
                    ),
                ));
            }
            token = Some(next.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(params: &[(String, String)]) -> Vec<String> {
        params.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    #[test]
    fn filter_only_calls_ask_for_full_pages_and_id_calls_do_not() {
        let filter = vec![("Filter.1.Name".to_owned(), "vpc-id".to_owned())];
        assert_eq!(
            names(&paged("DescribeInstances", filter.clone())),
            ["Filter.1.Name=vpc-id", "MaxResults=1000"]
        );
        assert_eq!(
            names(&paged("DescribeVpcs", Vec::new())),
            ["MaxResults=1000"]
        );
        assert_eq!(
            names(&paged("DescribeInstanceConnectEndpoints", filter)),
            ["Filter.1.Name=vpc-id", "MaxResults=50"]
        );
        let by_id = vec![("InstanceId.1".to_owned(), "i-1".to_owned())];
        assert_eq!(
            names(&paged("DescribeInstances", by_id)),
            ["InstanceId.1=i-1"]
        );
    }
}
