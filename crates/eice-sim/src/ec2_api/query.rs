//! What every `Describe*` call shares: explicit ids, filters, `MaxResults`,
//! `NextToken` and `DryRun`, checked the way EC2 checks them.
//!
//! Each action states its vocabulary in a [`Spec`]; [`Query::parse`] turns a
//! request into the selection and page to answer, so the actions themselves only
//! say how their items look.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use super::Action;
use super::error::ApiError;
use super::filter::{self, Filter, FilterNames};
use super::params::Params;
use super::xml::Xml;
use crate::world::{Endpoint, Instance, NetworkAcl, ResourceKind, SecurityGroup, Subnet, Vpc};

/// A kind of item a `Describe*` call lists, known by its id.
pub(super) trait Listed {
    fn id(&self) -> &str;
}

/// Synthesised items (a VPC's default group or ACL) are listed like the world's.
impl<T: Listed + Clone> Listed for Cow<'_, T> {
    fn id(&self) -> &str {
        self.as_ref().id()
    }
}

macro_rules! listed_by_id {
    ($($t:ty),*) => {$(
        impl Listed for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    )*};
}

listed_by_id!(Instance, Endpoint, Vpc, Subnet, SecurityGroup, NetworkAcl);

/// Answers one `Describe*` call: the `items` the request selects by id and by
/// filter (`values` gives an item's values for a filter name), one page of
/// them written as the list `set` by `write`, and `nextToken` when more remain.
pub(super) fn answer<'w, T: Listed>(
    (params, spec, page_size): (&Params, &Spec, usize),
    items: &'w [T],
    values: impl Fn(&T, &str) -> Vec<String>,
    set: &str,
    write: impl FnMut(&mut Xml, &'w T),
) -> Result<String, ApiError> {
    let query = Query::parse(
        params,
        spec,
        |id| items.iter().any(|i| i.id() == id),
        page_size,
    )?;
    let selected = items
        .iter()
        .filter(|item| query.selects(item.id(), |name| values(item, name)))
        .collect();
    let (page, next) = query.page(selected);
    let mut x = Xml::new();
    x.list(set, page, write);
    x.leaf_opt("nextToken", next);
    Ok(x.finish())
}

/// One `Describe*` action's vocabulary.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    /// The action, which also scopes its pagination tokens.
    pub(super) action: Action,
    /// The kind of id the action's id list holds.
    pub(super) kind: ResourceKind,
    /// The id list's parameter, e.g. `InstanceId` (sent as `InstanceId.1`…).
    pub(super) id_param: &'static str,
    /// The filters the action understands.
    pub(super) filters: FilterNames,
    /// EC2's allowed `MaxResults` range for the action.
    pub(super) max_results: RangeInclusive<usize>,
    /// `DescribeInstances` refuses `MaxResults` together with explicit ids.
    pub(super) ids_exclude_max_results: bool,
}

/// A parsed request: which items it selects and which page it wants.
#[derive(Debug)]
pub(super) struct Query {
    ids: Vec<String>,
    filters: Vec<Filter>,
    page_size: usize,
    offset: usize,
    action: Action,
}

impl Query {
    /// Checks a request against `spec`. `exists` says whether the account has an id
    /// (explicitly named ids that do not exist fail the call, as in EC2);
    /// `sim_page_size` caps every page, to force pagination in tests.
    pub(super) fn parse(
        params: &Params,
        spec: &Spec,
        exists: impl Fn(&str) -> bool,
        sim_page_size: usize,
    ) -> Result<Query, ApiError> {
        params.check_known(&[spec.id_param, "Filter", "MaxResults", "NextToken", "DryRun"])?;
        let ids = checked_ids(params.list(spec.id_param), spec.kind, exists)?;
        let filters = filter::parse(params, spec.filters)?;
        let max_results = max_results(params, &spec.max_results)?;
        if spec.ids_exclude_max_results && max_results.is_some() && !ids.is_empty() {
            return Err(ApiError::InvalidParameterCombination(
                "The parameter instancesSet cannot be used with the parameter maxResults".into(),
            ));
        }
        let offset = match params.get("NextToken").filter(|token| !token.is_empty()) {
            Some(token) => decode_token(spec.action, token)?,
            None => 0,
        };
        if params.dry_run()? {
            return Err(ApiError::DryRunOperation);
        }
        let page_size = max_results.unwrap_or(usize::MAX).min(sim_page_size.max(1));
        Ok(Query {
            ids,
            filters,
            page_size,
            offset,
            action: spec.action,
        })
    }

    /// Whether the item with this id and these filter values is selected.
    pub(super) fn selects(&self, id: &str, values_of: impl Fn(&str) -> Vec<String>) -> bool {
        (self.ids.is_empty() || self.ids.iter().any(|wanted| wanted == id))
            && filter::all_match(&self.filters, values_of)
    }

    /// The requested page of the selected items and the token for the next one.
    pub(super) fn page<T>(&self, selected: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = selected.len();
        let end = self.offset.saturating_add(self.page_size).min(total);
        let next = (end < total).then(|| encode_token(self.action, end));
        let page = selected
            .into_iter()
            .skip(self.offset)
            .take(end.saturating_sub(self.offset))
            .collect();
        (page, next)
    }
}

/// Malformed ids fail first (the first one found), then every unknown id at once.
fn checked_ids(
    ids: Vec<String>,
    kind: ResourceKind,
    exists: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ApiError> {
    if let Some(bad) = ids.iter().find(|id| !kind.is_well_formed(id)) {
        return Err(ApiError::Malformed {
            kind,
            id: bad.clone(),
        });
    }
    let missing: Vec<String> = ids.iter().filter(|id| !exists(id)).cloned().collect();
    if missing.is_empty() {
        Ok(ids)
    } else {
        Err(ApiError::NotFound { kind, ids: missing })
    }
}

fn max_results(params: &Params, range: &RangeInclusive<usize>) -> Result<Option<usize>, ApiError> {
    let Some(text) = params.get("MaxResults") else {
        return Ok(None);
    };
    match text.parse::<usize>() {
        Ok(value) if range.contains(&value) => Ok(Some(value)),
        _ => Err(ApiError::InvalidParameterValue(format!(
            "Value ( {text} ) for parameter maxResults is invalid. Parameter must be between {} and {}.",
            range.start(),
            range.end()
        ))),
    }
}

/// Tokens are opaque to clients, but name their action so a token from one call
/// cannot be replayed against another.
fn encode_token(action: Action, offset: usize) -> String {
    hex::encode(format!("{}:{offset}", action.as_str()))
}

fn decode_token(action: Action, token: &str) -> Result<usize, ApiError> {
    let bytes = hex::decode(token).map_err(|_| ApiError::InvalidPaginationToken)?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::InvalidPaginationToken)?;
    text.strip_prefix(action.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|offset| offset.parse().ok())
        .ok_or(ApiError::InvalidPaginationToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            action: Action::DescribeInstances,
            kind: ResourceKind::Instance,
            id_param: "InstanceId",
            filters: FilterNames {
                names: &["vpc-id"],
                tags: false,
            },
            max_results: 5..=1000,
            ids_exclude_max_results: true,
        }
    }

    fn parse(body: &str, page: usize) -> Result<Query, ApiError> {
        let params = Params::new(Vec::new(), body.as_bytes()).unwrap();
        Query::parse(&params, &spec(), |id| id.ends_with('1'), page)
    }

    #[test]
    fn pages_chain_through_tokens_to_the_end() {
        let first = parse("", 2).unwrap();
        let (page, token) = first.page(vec![1, 2, 3, 4, 5]);
        assert_eq!(page, [1, 2]);
        let second = parse(&format!("NextToken={}", token.unwrap()), 2).unwrap();
        let (page, token) = second.page(vec![1, 2, 3, 4, 5]);
        assert_eq!(page, [3, 4]);
        let third = parse(&format!("NextToken={}", token.unwrap()), 2).unwrap();
        assert_eq!(third.page(vec![1, 2, 3, 4, 5]), (vec![5], None));
    }

    #[test]
    fn foreign_or_garbage_tokens_are_refused() {
        let other = encode_token(Action::DescribeVpcs, 1);
        let err = parse(&format!("NextToken={other}"), 10).unwrap_err();
        assert_eq!(err.code(), "InvalidPaginationToken");
        assert!(parse("NextToken=zz", 10).is_err());
    }

    #[test]
    fn ids_are_checked_for_form_then_existence() {
        let err = parse("InstanceId.1=i-00000001&InstanceId.2=nope", 10).unwrap_err();
        assert_eq!(err.code(), "InvalidInstanceID.Malformed");
        let err = parse(
            "InstanceId.1=i-00000001&InstanceId.2=i-00000002&InstanceId.3=i-00000003",
            10,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "The instance IDs 'i-00000002, i-00000003' do not exist"
        );
        let query = parse("InstanceId.1=i-00000001", 10).unwrap();
        assert!(query.selects("i-00000001", |_| vec![]));
        assert!(!query.selects("i-00000011", |_| vec![]));
    }

    #[test]
    fn max_results_is_range_checked_and_exclusive_with_ids() {
        let err = parse("MaxResults=1", 10).unwrap_err();
        assert!(err.to_string().contains("between 5 and 1000"), "{err}");
        let err = parse("MaxResults=5&InstanceId.1=i-00000001", 10).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterCombination");
        let query = parse("MaxResults=5", 1000).unwrap();
        assert_eq!(query.page((0..9).collect()).0.len(), 5);
        assert_eq!(
            parse("DryRun=true", 10).unwrap_err().code(),
            "DryRunOperation"
        );
    }
}
